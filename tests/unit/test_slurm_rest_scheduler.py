"""SlurmRestScheduler against a mocked slurmrestd (requests-mock): submit traps, informer cache,
purge, job-id reuse, 304, authentication refresh + one retry. Shapes from slurmrestd-22.05.md."""

import dataclasses
import json
from pathlib import Path

import pytest
import requests

from service.schedulers.slurm_rest.token import SlurmTokenError
from service.schedulers.base import CredentialsRefused
from service.schedulers.base import (
    ACTIVE,
    FINISHED,
    LOST,
    PENDING,
    ClusterCredentials,
    ComponentHealth,
    JobSpec,
    SchedulerUnavailable,
)
from service.schedulers.slurm_rest import informer
from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler, SlurmSubmitError, parse_native_id
from service.schedulers.slurm_rest.states import EXIT_STATUS_GRACE_S
from service.trackers.jobs import JobRecord

URL = "http://slurm.test:6820"
API = f"{URL}/slurm/v0.0.38"
META = {"plugin": {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"},
        "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"}}
#: The 500 an expired / wrongly signed token gets (identical to slurmctld being down, only faster).
BAD_TOKEN_JOBS = {"meta": META, "errors": [{"description": "Failed while looking for jobs", "error_number": -1,
                                            "error": "Unspecified error", "source": "slurm_load_jobs"}], "jobs": []}


class FakeJWT:
    def __init__(self):
        self.refreshes = 0
        self.stopped = False
        #: When set, minting fails with this message (an unreadable key file).
        self.broken = ""

    def headers(self):
        return {"X-SLURM-USER-NAME": "dm", "X-SLURM-USER-TOKEN": self.token()}

    def token(self):
        if self.broken:
            raise SlurmTokenError(self.broken)
        return f"token-{self.refreshes}"

    def refresh_now(self):
        self.refreshes += 1

    def shutdown(self):
        self.stopped = True


class Clock:
    def __init__(self, now=1_000.0):
        self.now = now

    def __call__(self):
        return self.now


def raw_job(job_id, name, state="PENDING", submit_time=1795421277, exit_code=0, reason="None", time_limit=60):
    return {"job_id": job_id, "name": name, "job_state": state, "state_reason": reason, "state_description": "",
            "exit_code": exit_code, "derived_exit_code": 0, "submit_time": submit_time,
            "start_time": submit_time + 1 if state != "PENDING" else 0, "end_time": 0, "time_limit": time_limit,
            "user_name": "dm", "partition": "debug", "cluster": "local", "cpus": 1}


def jobs_body(*jobs):
    return {"meta": META, "errors": [], "jobs": list(jobs)}


@pytest.fixture
def jwt():
    return FakeJWT()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def scheduler(jwt, clock):
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.38", partition="debug", jwt=jwt,
                               username="", poll_secs=5, start=False, clock=clock)
    yield sched
    sched.shutdown()


def spec(tmp_path, job_id="abc123"):
    workdir = tmp_path / job_id
    workdir.mkdir()
    return JobSpec(job_id=job_id, workdir=workdir, argv=["/usr/lib/hyphy/bin/hyphy-avx", "CPU=1", "fel"],
                   env={"PATH": "/usr/bin:/bin"}, cpus=1, memory_mb=900, time_limit_min=60)


def record(tmp_path, native_id, job_id="abc123"):
    return JobRecord(job_id=job_id, owner="o", method="fel", request_key="k", options={}, datasets={}, inputs={},
                     workdir=str(tmp_path / job_id), scheduler="SlurmRestScheduler", resources={},
                     native_id=native_id)


# -- submit ----------------------------------------------------------------------------------
def test_submit_posts_the_job_and_records_its_submit_time(scheduler, tmp_path, requests_mock):
    requests_mock.post(f"{API}/job/submit", json={"meta": META, "errors": [], "job_id": 6, "step_id": "BATCH",
                                                   "job_submit_user_msg": ""})
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123")))
    native = scheduler.submit(spec(tmp_path))
    assert native == "6@1795421277"
    body = requests_mock.request_history[0].json()
    workdir = str((tmp_path / "abc123").resolve())
    assert body["job"] == {"name": "datamonkey-abc123", "partition": "debug", "current_working_directory": workdir,
                           "environment": {"PATH": "/usr/bin:/bin"}, "standard_output": f"{workdir}/slurm.out",
                           "standard_error": f"{workdir}/slurm.err", "cpus_per_task": 1, "memory_per_node": 900,
                           "time_limit": 60}
    assert body["script"].startswith("#!/bin/bash\n")
    assert requests_mock.request_history[0].headers["X-SLURM-USER-NAME"] == "dm"


@pytest.mark.parametrize("error", [
    {"error_code": 2015, "error": "Requested partition configuration not available now"},
    {"error_code": 2042, "error": "Job is in held state, pending scheduler release"},
])
def test_200_with_errors_cancels_the_job_and_fails(scheduler, tmp_path, requests_mock, error):
    requests_mock.post(f"{API}/job/submit", json={"meta": META, "errors": [error], "job_id": 25, "step_id": "BATCH"})
    cancel = requests_mock.delete(f"{API}/job/25", json={"meta": META, "errors": []})
    with pytest.raises(SlurmSubmitError, match=error["error"]):
        scheduler.submit(spec(tmp_path))
    assert cancel.call_count == 1


def test_200_with_node_not_available_keeps_the_job(scheduler, tmp_path, requests_mock):
    """2068 right after a slurmctld restart: the job runs once slurmd re-registers; not cancelled."""
    requests_mock.post(f"{API}/job/submit", json={"meta": META, "job_id": 6, "step_id": "BATCH", "errors": [
        {"error_code": 2068, "error": "Required node not available (down, drained or reserved)"}]})
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123")))
    cancel = requests_mock.delete(f"{API}/job/6", json={"meta": META, "errors": []})
    assert scheduler.submit(spec(tmp_path)) == "6@1795421277"
    assert cancel.call_count == 0


def test_500_that_left_a_job_behind_is_reconciled_by_name_not_resubmitted(scheduler, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", status_code=500, json={"meta": META, "errors": [
        {"error_code": 1800, "error": "Unable to contact slurm controller (connect failure)"}]})
    requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(3, "datamonkey-other"),
                                                    raw_job(4, "datamonkey-abc123", submit_time=1795421300)))
    assert scheduler.submit(spec(tmp_path)) == "4@1795421300"
    assert post.call_count == 1


def test_500_2014_left_a_failed_job_refused_with_slurms_reason(scheduler, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", status_code=500, json={"meta": META, "errors": [
        {"error_code": 2014, "error": "Requested node configuration is not available"}]})
    requests_mock.get(f"{API}/jobs", json=jobs_body(
        raw_job(19, "datamonkey-abc123", "FAILED", exit_code=1, reason="BadConstraints")))
    with pytest.raises(SlurmSubmitError, match="Requested node configuration is not available"):
        scheduler.submit(spec(tmp_path))
    assert post.call_count == 1


def test_connection_error_without_a_job_is_unavailable(scheduler, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", exc=requests.exceptions.ConnectionError("refused"))
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    with pytest.raises(SchedulerUnavailable):
        scheduler.submit(spec(tmp_path))
    assert post.call_count == 1


def test_unreachable_slurmrestd_is_unavailable(scheduler, tmp_path, requests_mock):
    requests_mock.post(f"{API}/job/submit", exc=requests.exceptions.ConnectionError("refused"))
    requests_mock.get(f"{API}/jobs", exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(SchedulerUnavailable):
        scheduler.submit(spec(tmp_path))


def test_submit_to_an_invalid_partition_is_refused(scheduler, tmp_path, requests_mock):
    requests_mock.post(f"{API}/job/submit", status_code=500, json={"meta": META, "errors": [
        {"error_code": 2000, "error": "Invalid partition name specified"}]})
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    with pytest.raises(SlurmSubmitError, match="Invalid partition name specified"):
        scheduler.submit(spec(tmp_path))


# -- status cache ----------------------------------------------------------------------------
def test_statuses_only_read_the_cache(scheduler, tmp_path, requests_mock):
    listing = requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING")))
    (tmp_path / "abc123").mkdir()
    with pytest.raises(SchedulerUnavailable):  # never listed yet
        scheduler.statuses([record(tmp_path, "6@1795421277")])
    assert scheduler.informer.poll_once()
    for _ in range(50):
        assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE
    assert listing.call_count == 1


def test_304_keeps_the_cache(scheduler, tmp_path, clock, requests_mock):
    (tmp_path / "abc123").mkdir()
    requests_mock.get(f"{API}/jobs", [{"json": jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING"))},
                                      {"status_code": 304, "text": ""}])
    scheduler.informer.poll_once()
    clock.now += 5
    assert scheduler.informer.poll_once()
    second = requests_mock.request_history[-1]
    assert second.qs["update_time"] == [str(int(1000) - 2)]
    assert scheduler.informer.not_modified == 1
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE


def test_a_just_submitted_job_missing_from_an_older_listing_is_pending(scheduler, tmp_path, clock, requests_mock):
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    scheduler.informer.poll_once()  # listed at t=1000
    clock.now += 1
    requests_mock.post(f"{API}/job/submit", json={"meta": META, "errors": [], "job_id": 6})
    requests_mock.get(f"{API}/job/6", status_code=500, json={"errors": []})
    native = scheduler.submit(spec(tmp_path))
    assert scheduler.statuses([record(tmp_path, native)])["abc123"].phase == PENDING


def test_purged_job_is_decided_by_its_exit_status_file(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/jobs", json=jobs_body())  # purged ~5 min after it ended
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    lost = scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert lost.phase == LOST and "no longer knows job 6" in lost.reason
    (tmp_path / "abc123" / "exit_status").write_text("0\n")
    done = scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (done.phase, done.exit_code, done.reason) == (FINISHED, 0, "")


@pytest.mark.parametrize("reused", [
    raw_job(6, "datamonkey-newjob", "RUNNING", submit_time=1795421999),     # a new job got our old id
    raw_job(6, "datamonkey-abc123", "RUNNING", submit_time=1795421999),     # same name, never requeued
])
def test_job_id_reuse_is_ignored(scheduler, tmp_path, requests_mock, reused):
    requests_mock.get(f"{API}/jobs", json=jobs_body(reused))
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    (tmp_path / "abc123" / "exit_status").write_text("3\n")
    state = scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (state.phase, state.exit_code) == (FINISHED, 3)  # from its own files, not the new job's RUNNING


@pytest.mark.parametrize("state", ["PENDING", "REQUEUED", "RUNNING"])
def test_a_requeued_job_is_still_ours(scheduler, tmp_path, requests_mock, state):
    """A requeue keeps the id and name, sets a later submit time and counts it (as 22.05 showed for
    `scontrol requeue`: PENDING/BeginTime, submit_time + 1, restart_cnt 1)."""
    requeued = {**raw_job(6, "datamonkey-abc123", state, submit_time=1795421999, reason="BeginTime"),
                "restart_cnt": 1}
    requests_mock.get(f"{API}/jobs", json=jobs_body(requeued))
    requests_mock.get(f"{API}/job/6", json=jobs_body(requeued))
    delete = requests_mock.delete(f"{API}/job/6", json={"meta": META, "errors": []})
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase in (PENDING, ACTIVE)
    scheduler.cancel(record(tmp_path, "6@1795421277"))
    assert delete.call_count == 1


def test_a_job_listed_with_an_earlier_submit_time_is_not_ours(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING", submit_time=1795421000)))
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == LOST


def test_a_completed_job_awaits_its_exit_status_file_on_the_schedulers_clock(scheduler, tmp_path, clock,
                                                                            requests_mock):
    completed = {**raw_job(6, "datamonkey-abc123", "COMPLETED"), "end_time": int(clock.now) - 1}
    requests_mock.get(f"{API}/jobs", json=jobs_body(completed))
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE
    clock.now += EXIT_STATUS_GRACE_S
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == FINISHED


def test_timeout_reason(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(6, "datamonkey-abc123", "TIMEOUT", exit_code=15,
                                                            reason="TimeLimit", time_limit=1)))
    scheduler.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    state = scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (state.phase, state.reason) == (FINISHED, "hit the 1 min time limit")


def test_failed_listing_keeps_serving_the_cache(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/jobs", [{"json": jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING"))},
                                      {"exc": requests.exceptions.ConnectionError("refused")}])
    (tmp_path / "abc123").mkdir()
    assert scheduler.informer.poll_once()
    assert not scheduler.informer.poll_once()
    assert "unreachable" in scheduler.informer.last_error
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE


def test_state_change_events(scheduler, requests_mock, monkeypatch):
    monkeypatch.setattr(informer, "FULL_RELIST_EVERY", 1)  # an emptied table shows in a full listing
    events = []
    scheduler.informer.add_handler(lambda before, after: events.append((before and before.state, after and after.state)))
    requests_mock.get(f"{API}/jobs", [{"json": jobs_body(raw_job(6, "datamonkey-a"))},
                                      {"json": jobs_body(raw_job(6, "datamonkey-a", "RUNNING"))},
                                      {"json": jobs_body()}])
    for _ in range(3):
        scheduler.informer.poll_once()
    assert events == [(None, "PENDING"), ("PENDING", "RUNNING"), ("RUNNING", None)]


# -- authentication --------------------------------------------------------------------------
def test_auth_failure_refreshes_the_token_and_retries_once(scheduler, jwt, requests_mock):
    listing = requests_mock.get(f"{API}/jobs", [{"status_code": 500, "json": BAD_TOKEN_JOBS},
                                                {"json": jobs_body(raw_job(6, "datamonkey-a"))}])
    assert scheduler.informer.poll_once()
    assert jwt.refreshes == 1 and listing.call_count == 2
    assert listing.request_history[1].headers["X-SLURM-USER-TOKEN"] == "token-1"


@pytest.mark.parametrize("status,body", [(401, None), (500, BAD_TOKEN_JOBS)])
def test_auth_failure_is_retried_only_once(scheduler, jwt, requests_mock, status, body):
    kwargs = {"json": body} if body else {"text": "Authentication failure"}
    listing = requests_mock.get(f"{API}/jobs", status_code=status, **kwargs)
    assert not scheduler.informer.poll_once()
    assert (jwt.refreshes, listing.call_count) == (1, 2)


REFUSED_SUBMIT = [{"status_code": 500, "json": {"meta": META, "errors": [
    {"error_code": 5005, "error": "Zero Bytes were transmitted or received"}]}},
    {"status_code": 401, "text": "Authentication failure"}]


@pytest.mark.parametrize("refused", REFUSED_SUBMIT)
def test_submit_auth_failure_refreshes_and_resends_when_slurm_lacks_the_job(scheduler, jwt, tmp_path, requests_mock,
                                                                           refused):
    post = requests_mock.post(f"{API}/job/submit", [refused, {"json": {"meta": META, "errors": [], "job_id": 9}}])
    listing = requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(3, "datamonkey-other")))
    requests_mock.get(f"{API}/job/9", json=jobs_body(raw_job(9, "datamonkey-abc123")))
    assert scheduler.submit(spec(tmp_path)) == "9@1795421277"
    assert (jwt.refreshes, post.call_count, listing.call_count) == (1, 2, 1)
    assert [r.method for r in requests_mock.request_history[:3]] == ["POST", "GET", "POST"]  # looked up first
    assert post.request_history[1].headers["X-SLURM-USER-TOKEN"] == "token-1"


@pytest.mark.parametrize("refused", REFUSED_SUBMIT)
def test_submit_auth_failure_adopts_the_job_slurm_already_has(scheduler, jwt, tmp_path, requests_mock, refused):
    """A 500 that looks like a refused token may still have created the job: never submitted twice."""
    post = requests_mock.post(f"{API}/job/submit", [refused, {"json": {"meta": META, "errors": [], "job_id": 10}}])
    requests_mock.get(f"{API}/jobs", json=jobs_body(raw_job(9, "datamonkey-abc123", submit_time=1795421300)))
    assert scheduler.submit(spec(tmp_path)) == "9@1795421300"
    assert (jwt.refreshes, post.call_count) == (1, 1)


def test_submit_refused_twice_is_not_sent_a_third_time(scheduler, jwt, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", **REFUSED_SUBMIT[0])
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    with pytest.raises(SchedulerUnavailable):
        scheduler.submit(spec(tmp_path))
    assert (jwt.refreshes, post.call_count) == (2, 2)


def test_a_listing_requested_while_the_submission_was_in_flight_does_not_lose_the_job(scheduler, tmp_path, clock,
                                                                                      requests_mock):
    """The listing was requested after our submit started but answered before slurmctld created the job."""
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    scheduler.informer.poll_once()

    def slurmctld_creates_the_job_after_a_concurrent_listing(request, context):
        clock.now += 1
        scheduler.informer.poll_once()  # requested at 1001, without the job
        return {"meta": META, "errors": [], "job_id": 6}

    requests_mock.post(f"{API}/job/submit", json=slurmctld_creates_the_job_after_a_concurrent_listing)
    requests_mock.get(f"{API}/job/6", status_code=500, json={"errors": []})
    native = scheduler.submit(spec(tmp_path))
    assert scheduler.statuses([record(tmp_path, native)])["abc123"].phase == PENDING
    clock.now += 1
    scheduler.informer.poll_once()  # requested after the submission returned: now absence means gone
    assert scheduler.statuses([record(tmp_path, native)])["abc123"].phase == LOST


# -- cancel, health, shutdown ----------------------------------------------------------------
def test_cancel_only_our_own_live_job(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING")))
    delete = requests_mock.delete(f"{API}/job/6", json={"meta": META, "errors": []})
    scheduler.cancel(record(tmp_path, "6@1795421277"))
    assert delete.call_count == 1
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-someone-else", "RUNNING")))
    scheduler.cancel(record(tmp_path, "6@1795421277"))
    requests_mock.get(f"{API}/job/6", status_code=500, json={"meta": META, "errors": [
        {"description": "Unable to find JobId=6", "error_number": 2017, "error": "Invalid job id specified",
         "source": "slurm_load_job"}], "jobs": []})
    scheduler.cancel(record(tmp_path, "6@1795421277"))
    assert delete.call_count == 1


PING_UP = {"meta": META, "errors": [], "pings": [{"hostname": "vm", "ping": "UP", "status": 0, "mode": "primary"}]}


def statuses(checks):
    return {name: check.status for name, check in checks.items()}


def test_health_all_components_up(scheduler, requests_mock):
    requests_mock.get(f"{API}/ping", json=PING_UP)
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    assert scheduler.informer.poll_once()
    assert statuses(scheduler.health()) == {"slurm_token": "healthy", "slurmrestd": "healthy",
                                            "slurmctld": "healthy", "job_listing": "healthy"}


@pytest.mark.parametrize("ping,component,reason", [
    ({"exc": requests.exceptions.ConnectionError("refused")}, "slurmrestd", "unreachable"),
    ({"exc": requests.exceptions.ReadTimeout("slow")}, "slurmctld", "no answer from slurmctld within 5 s"),
    ({"status_code": 500, "json": {"meta": META, "errors": [
        {"description": "slurmctld config is unable to load", "error_number": -1, "error": "Unspecified error",
         "source": "slurm_load_ctl_conf"}]}}, "slurmctld", "slurmrestd answered HTTP 500"),
    ({"json": {"meta": META, "errors": [], "pings": [{"hostname": "vm", "ping": "DOWN", "status": -1,
                                                      "mode": "primary"}]}}, "slurmctld", "slurmctld does not answer"),
    ({"status_code": 401, "text": "Authentication failure"}, "slurm_token", "401"),
    ({"status_code": 511, "json": {"meta": META, "errors": [{"description": "Unable to ping", "error_number": 1007,
                                                             "error": "Protocol authentication error"}]}},
     "slurm_token", "HTTP 511"),
    # 26.05 (v0.0.45) pings with a refused token: a 200 whose controller is "not responding"
    ({"json": {"meta": META, "errors": [], "pings": [{"hostname": "vm", "responding": False, "pinged": "DOWN",
                                                      "status": "Protocol authentication error"}]}},
     "slurm_token", "refused the service's token"),
])
def test_health_names_the_failing_component_and_why(scheduler, requests_mock, ping, component, reason):
    requests_mock.get(f"{API}/ping", **ping)
    checks = scheduler.health()
    assert checks[component].status == "unhealthy"
    assert reason in checks[component].reason
    assert [name for name, check in checks.items() if check.status == "unhealthy"] == [component]


def test_health_pings_slurm_at_most_once_per_cache_period(scheduler, clock, requests_mock):
    ping = requests_mock.get(f"{API}/ping", json=PING_UP)
    for _ in range(50):
        assert statuses(scheduler.health())["slurmctld"] == "healthy"
    assert ping.call_count == 1
    clock.now += 5
    requests_mock.get(f"{API}/ping", exc=requests.exceptions.ConnectionError("refused"))
    assert statuses(scheduler.health())["slurmrestd"] == "healthy"  # the last answer, while one ping refreshes it
    scheduler.pings.wait()
    assert statuses(scheduler.health())["slurmrestd"] == "unhealthy"
    assert ping.call_count == 1 and len(requests_mock.request_history) == 2


def test_health_with_an_unreadable_key_does_not_call_slurm(scheduler, jwt, requests_mock):
    jwt.broken = "cannot read SLURM_JWT_KEY_PATH /k: Permission denied"
    ping = requests_mock.get(f"{API}/ping", json=PING_UP)
    checks = scheduler.health()
    assert checks["slurm_token"] == ComponentHealth(
        "unhealthy", "the service cannot sign its Slurm token (SLURM_JWT_KEY_PATH)", jwt.broken)
    assert statuses(checks)["slurmrestd"] == "unknown" and ping.call_count == 0


def test_health_reports_a_stale_job_listing_with_its_error(scheduler, clock, requests_mock):
    requests_mock.get(f"{API}/ping", json=PING_UP)
    assert statuses(scheduler.health())["job_listing"] == "unknown"  # no listing attempted yet
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    assert scheduler.informer.poll_once()
    clock.now += 61
    requests_mock.get(f"{API}/jobs", exc=requests.exceptions.ConnectionError("refused"))
    assert not scheduler.informer.poll_once()
    listing = scheduler.health()["job_listing"]
    assert listing.status == "unhealthy"
    assert listing.reason == "the job listing is stale; serving cached job states"
    assert "last job listing 61 s ago" in listing.detail and "unreachable" in listing.detail


def test_shutdown_stops_the_poller_and_the_token_manager(jwt, requests_mock):
    import time

    requests_mock.get(f"{URL}/slurm/v0.0.37/jobs", json=jobs_body())
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.37", partition="debug", jwt=jwt, poll_secs=1)
    deadline = time.monotonic() + 10
    while sched.informer.listings < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    sched.shutdown()
    assert jwt.stopped and sched.informer._thread is None
    assert requests_mock.request_history[0].url.startswith(f"{URL}/slurm/v0.0.37/jobs")


def test_native_id_parsing():
    assert parse_native_id("6@1795421277") == (6, 1795421277)
    assert parse_native_id("6") == (6, None)
    assert parse_native_id("local-abc") is None


# -- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["SLURM_JWT_KEY_PATH", "SLURM_JWT_USERNAME"])
def test_config_names_the_missing_slurm_variable(missing):
    from service.config import ConfigError, Settings

    env = {"SCHEDULER_TYPE": "SlurmRestScheduler", "SLURM_JWT_KEY_PATH": "/k", "SLURM_JWT_USERNAME": "dm"}
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        Settings.from_mapping(env)


def test_config_refuses_an_unsupported_api_version_at_start_up():
    from service.config import ConfigError, Settings

    env = {"SCHEDULER_TYPE": "SlurmRestScheduler", "SLURM_JWT_KEY_PATH": "/k", "SLURM_JWT_USERNAME": "dm"}
    with pytest.raises(ConfigError, match="SLURM_REST_API_PATH.*v0.0.46.*supported: v0.0.37, v0.0.38"):
        Settings.from_mapping({**env, "SLURM_REST_API_PATH": "/slurm/v0.0.46"})
    with pytest.raises(ConfigError, match="SLURM_REST_SUBMIT_API_PATH"):
        Settings.from_mapping({**env, "SLURM_REST_SUBMIT_API_PATH": "/slurm/v0.0.36"})
    assert Settings.from_mapping({**env, "SLURM_POLL_SECS": "2"}).SLURM_POLL_SECS == 2


# -- a client's own Slurm credentials (X-SLURM-USER-NAME / X-SLURM-USER-TOKEN) ------------------
CLIENT = ClusterCredentials(user="alice", token="client.jwt.token")


def test_submit_with_client_credentials_uses_them_for_the_submission_only(scheduler, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", json={"meta": META, "errors": [], "job_id": 6})
    read = requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123")))
    job_spec = dataclasses.replace(spec(tmp_path), credentials=CLIENT)
    assert scheduler.submit(job_spec) == "6@1795421277"
    assert (post.last_request.headers["X-SLURM-USER-NAME"], post.last_request.headers["X-SLURM-USER-TOKEN"]) == (
        "alice", "client.jwt.token")
    assert read.last_request.headers["X-SLURM-USER-NAME"] == "dm"  # status reads stay the service's


@pytest.mark.parametrize("status,body", [
    (401, None),
    (500, {"meta": META, "errors": [{"error_code": 5005, "error": "Zero Bytes were transmitted or received"}]}),
])
def test_a_refused_client_token_is_credentials_refused_and_never_retried_with_ours(scheduler, jwt, tmp_path, requests_mock,
                                                                     status, body):
    kwargs = {"json": body} if body else {"text": "Authentication failure"}
    post = requests_mock.post(f"{API}/job/submit", status_code=status, **kwargs)
    with pytest.raises(CredentialsRefused, match="X-SLURM-USER-TOKEN") as caught:
        scheduler.submit(dataclasses.replace(spec(tmp_path), credentials=CLIENT))
    assert "client.jwt.token" not in str(caught.value)
    assert (post.call_count, jwt.refreshes) == (1, 0)


def test_cancel_with_client_credentials(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING")))
    delete = requests_mock.delete(f"{API}/job/6", json={"meta": META, "errors": []})
    scheduler.cancel(record(tmp_path, "6@1795421277"), CLIENT)
    assert delete.last_request.headers["X-SLURM-USER-TOKEN"] == "client.jwt.token"


def test_a_refused_cancel_is_an_error_with_slurms_reason(scheduler, tmp_path, requests_mock):
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING")))
    requests_mock.delete(f"{API}/job/6", status_code=500, json={"meta": META, "errors": [
        {"error_code": 2002, "error": "Access/permission denied"}]})
    with pytest.raises(SlurmSubmitError, match="refused to cancel job 6: .*Access/permission denied"):
        scheduler.cancel(record(tmp_path, "6@1795421277"))


def test_a_cancel_refused_in_v0042s_per_job_status_is_an_error(jwt, tmp_path, requests_mock):
    """v0.0.42+ answer a refused cancel with a 200; the reason is in `status` (2017 alone: already gone)."""
    api = f"{URL}/slurm/v0.0.42"
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.42", partition="debug", jwt=jwt, start=False)
    running = json.loads((FIXTURES / "v0.0.41" / "jobs.json").read_text())
    job = next(j for j in running["jobs"] if j["job_id"] == 12)
    running["jobs"] = [{**job, "name": "datamonkey-abc123", "job_state": ["RUNNING"]}]
    requests_mock.get(f"{api}/job/12", json=running)
    submitted = sched.client.adapter.parse_jobs(running)[0].submit_time

    def refusal(code, text):
        return {"status": [{"error": {"code": code, "string": text, "message": text}, "step_id": "",
                            "job_id": {"set": True, "infinite": False, "number": 12}}], "errors": [], "warnings": []}

    requests_mock.delete(f"{api}/job/12", json=refusal(2002, "Access/permission denied"))
    with pytest.raises(SlurmSubmitError, match="refused to cancel job 12: Access/permission denied"):
        sched.cancel(record(tmp_path, f"12@{submitted}"))
    requests_mock.delete(f"{api}/job/12", json=refusal(2017, "Invalid job id specified"))
    sched.cancel(record(tmp_path, f"12@{submitted}"))  # gone meanwhile: nothing left to cancel


# -- "no change" answers of every API version -----------------------------------------------
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slurmrestd"


def running_listing(version):
    """(first listing with job 12 of the version's jobs.json RUNNING, a "no change" answer)."""
    if version in ("v0.0.37", "v0.0.38"):
        return jobs_body(raw_job(12, "datamonkey-5a7d9c03", "RUNNING", submit_time=1795421290)), {
            "status_code": 304, "text": ""}
    body = json.loads((FIXTURES / version / "jobs.json").read_text())
    job = next(j for j in body["jobs"] if j["job_id"] == 12)
    job["job_state"] = "RUNNING" if version == "v0.0.39" else ["RUNNING"]
    body["jobs"] = [job]
    return body, {"json": json.loads((FIXTURES / version / "jobs_not_modified.json").read_text())}


@pytest.mark.parametrize("version", ["v0.0.37", "v0.0.38", "v0.0.39", "v0.0.40", "v0.0.41"])
def test_a_running_job_stays_running_across_no_change_answers(jwt, clock, tmp_path, requests_mock, version):
    """23.02+ answer an unchanged table with a 200, no jobs and a warning (22.05: a 304): not an empty table."""
    first, unchanged = running_listing(version)
    requests_mock.get(f"{URL}/slurm/{version}/jobs", [{"json": first}] + [unchanged] * 4)
    sched = SlurmRestScheduler(base_url=URL, api_path=f"/slurm/{version}", partition="debug", jwt=jwt,
                               poll_secs=5, start=False, clock=clock)
    job = record(tmp_path, "12@1795421290", job_id="5a7d9c03")
    (tmp_path / "5a7d9c03").mkdir()
    for _ in range(5):
        assert sched.informer.poll_once()
        assert sched.statuses([job])["5a7d9c03"].phase == ACTIVE
        clock.now += 5
    assert sched.informer.not_modified == 4
    sent = {tuple(r.qs.get("update_time", [])) for r in requests_mock.request_history[1:]}
    # the controller's own last_update where the version reports one (v0.0.40/41: as "now-Nseconds",
    # N from that time to our clock, which this fake clock has far behind it), else our clock minus the margin
    assert sent == ({("now-0seconds",)} if version in ("v0.0.40", "v0.0.41") else {("998",)})


def test_an_empty_full_listing_still_empties_the_cache(scheduler, tmp_path, requests_mock, monkeypatch):
    monkeypatch.setattr(informer, "FULL_RELIST_EVERY", 1)  # every listing is a full one
    requests_mock.get(f"{API}/jobs", [{"json": jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING"))},
                                      {"json": jobs_body()}])
    (tmp_path / "abc123").mkdir()
    scheduler.informer.poll_once()
    scheduler.informer.poll_once()
    assert requests_mock.request_history[1].qs == {}
    assert scheduler.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == LOST


def test_an_empty_update_time_listing_without_slurms_warning_is_checked_by_a_full_one(
        scheduler, tmp_path, requests_mock):
    """22.05 after a controller state reset: a 200 with no jobs and no "no change" warning. The
    cache must not keep the old table (a reused id would pass for our old, long finished job)."""
    requests_mock.get(f"{API}/jobs", [{"json": jobs_body(raw_job(6, "datamonkey-abc123", "RUNNING"))},
                                      {"json": jobs_body()}, {"json": jobs_body()}])
    (tmp_path / "abc123").mkdir()
    job = record(tmp_path, "6@1795421277")
    scheduler.informer.poll_once()
    assert scheduler.statuses([job])["abc123"].phase == ACTIVE
    scheduler.informer.poll_once()
    sent = [r.qs for r in requests_mock.request_history]
    assert "update_time" in sent[1] and sent[2] == {}, sent  # the empty answer, then a full listing
    assert scheduler.statuses([job])["abc123"].phase == LOST
