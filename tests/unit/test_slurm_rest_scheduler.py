"""SlurmRestScheduler against every REST API version it supports, through a stateful fake slurmrestd that
answers with each version's recorded bodies (fake_slurmrestd.py): submit traps, informer cache, purge, job-id
reuse, "no change" answers, authentication refresh + one retry, client credentials, cancel, recover, health.

Tests of one exact wire detail of one version (22.05's 304, 401s, 2042/2068 submit errors, a 500 that left a
job behind, v0.0.42's per-job cancel status, the no-change fixtures of v0.0.37-v0.0.41) keep a mocked
slurmrestd (requests-mock) with that version's bodies (slurmrestd-22.05.md)."""

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest
import requests

from service.schedulers.base import (
    ACTIVE,
    FINISHED,
    LOST,
    PENDING,
    ClusterCredentials,
    ComponentHealth,
    CredentialsRefused,
    JobSpec,
    SchedulerUnavailable,
)
from service.schedulers.slurm_rest import informer
from service.schedulers.slurm_rest.adapters import ADAPTERS
from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler, SlurmSubmitError, parse_native_id
from service.schedulers.slurm_rest.states import EXIT_STATUS_GRACE_S
from service.schedulers.slurm_rest.token import SlurmTokenError
from service.trackers.jobs import JobRecord
from tests.unit.fake_slurmrestd import FakeSlurmrestd

URL = "http://slurm.test:6820"
API = f"{URL}/slurm/v0.0.38"
META = {"plugin": {"type": "openapi/v0.0.38", "name": "Slurm OpenAPI v0.0.38"},
        "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"}}
#: The 500 an expired / wrongly signed token gets (identical to slurmctld being down, only faster).
BAD_TOKEN_JOBS = {"meta": META, "errors": [{"description": "Failed while looking for jobs", "error_number": -1,
                                            "error": "Unspecified error", "source": "slurm_load_jobs"}], "jobs": []}
#: Every REST API version the service speaks; each test taking `sched` runs once per version.
VERSIONS = list(ADAPTERS)
#: Versions whose job listing reports no `last_update` (the informer then sends its own clock minus a margin).
WITHOUT_LAST_UPDATE = {"v0.0.37", "v0.0.38", "v0.0.39"}
SUBMITTED = 1795421277  # a submit time of jobs the tests put in the fake's table


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
    """v0.0.38 against requests-mock, for the wire-detail tests."""
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.38", partition="debug", jwt=jwt,
                               username="", poll_secs=5, start=False, clock=clock)
    sched.pings.first_wait_s = 30  # as over() says
    yield sched
    sched.shutdown()


@pytest.fixture(params=VERSIONS)
def fake(request, clock):
    """A slurmrestd serving one REST API version (each test using it runs for every version)."""
    return FakeSlurmrestd(request.param, clock=clock, url=URL)


def over(fake, jwt, clock, api_path=None, **kwargs):
    """A SlurmRestScheduler whose session goes to `fake`."""
    sched = SlurmRestScheduler(base_url=URL, api_path=api_path or f"/slurm/{fake.version}",
                               partition=kwargs.pop("partition", "debug"), jwt=jwt, username="", poll_secs=5,
                               start=False, clock=clock, session=fake.session(), **kwargs)
    # the first /health waits for the first ping (HEALTH_FIRST_WAIT_S, 2 s); a loaded test machine must not
    # turn that into "unknown" (it did): the wait still ends as soon as the ping has answered
    sched.pings.first_wait_s = 30
    return sched


@pytest.fixture
def sched(fake, jwt, clock):
    """The scheduler over `fake`: every REST API version in turn."""
    sched = over(fake, jwt, clock)
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


def calls(fake):
    return [(c.method, c.path) for c in fake.calls]


# -- submit ----------------------------------------------------------------------------------
def test_submit_queues_the_job_and_records_its_submit_time(sched, fake, tmp_path):
    native = sched.submit(spec(tmp_path))
    [job] = fake.jobs.values()
    assert native == f"{job.job_id}@{job.submit_time}" == "6@1000"
    workdir = str((tmp_path / "abc123").resolve())
    assert (job.name, job.partition, job.current_working_directory, job.environment, job.standard_output,
            job.standard_error, job.cpus_per_task, job.memory_per_node, job.time_limit) == (
        "datamonkey-abc123", "debug", workdir, {"PATH": "/usr/bin:/bin"}, f"{workdir}/slurm.out",
        f"{workdir}/slurm.err", 1, 900, 60)
    assert job.script.startswith("#!/bin/bash\n")
    assert job.user_name == "dm" and fake.calls[0].user == "dm"  # the service's own Slurm user
    assert calls(fake) == [("POST", "/job/submit"), ("GET", "/job/6")]  # read back once for its submit time


def test_submit_sends_v0038s_wire_format(scheduler, tmp_path, requests_mock):
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


def test_a_job_slurm_would_never_run_is_refused_and_never_left_queued(sched, fake, tmp_path):
    """More CPUs than a node has: 22.05 and 26.05 queue it with error 2015 (26.05 as a warning of a 200) and it
    would pend forever, so it is cancelled; 24.11 refuses it outright (500, 2014)."""
    with pytest.raises(SlurmSubmitError) as caught:
        sched.submit(dataclasses.replace(spec(tmp_path), cpus=9999))
    if fake.release == "24.11":
        assert "Requested node configuration is not available" in str(caught.value)
        assert fake.jobs == {} and fake.count("DELETE") == 0
    else:
        assert "Requested partition configuration not available now" in str(caught.value)
        assert [(j.job_id, j.state, j.reason) for j in fake.jobs.values()] == [(6, "CANCELLED", "PartitionConfig")]
        assert calls(fake) == [("POST", "/job/submit"), ("DELETE", "/job/6")]


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


def test_a_lost_submit_answer_is_settled_by_name_not_resubmitted(sched, fake, tmp_path):
    """slurmctld queued the job but its answer never arrived: the job table says so, nothing is sent twice."""
    fake.add_job("datamonkey-other", job_id=3)
    fake.lose_next_answer("POST", "/job/submit", performed=True)
    assert sched.submit(spec(tmp_path)) == "6@1000"
    assert fake.count("POST") == 1 and sorted(fake.jobs) == [3, 6]
    assert calls(fake) == [("POST", "/job/submit"), ("GET", "/jobs")]


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


def test_connection_error_without_a_job_is_unavailable(sched, fake, tmp_path):
    fake.lose_next_answer("POST", "/job/submit", performed=False)
    with pytest.raises(SchedulerUnavailable):
        sched.submit(spec(tmp_path))
    assert fake.count("POST") == 1 and fake.jobs == {}
    assert calls(fake) == [("POST", "/job/submit"), ("GET", "/jobs")]  # looked for it by name first


def test_unreachable_slurmrestd_is_unavailable(sched, fake, tmp_path):
    fake.go_unreachable()
    with pytest.raises(SchedulerUnavailable):
        sched.submit(spec(tmp_path))
    assert fake.jobs == {}


def test_submit_to_an_invalid_partition_is_refused(fake, jwt, clock, tmp_path):
    """2000: a 500 on 22.05 and 24.11 (so the job table is checked first), a 422 on 26.05."""
    sched = over(fake, jwt, clock, partition="nosuchpartition")
    with pytest.raises(SlurmSubmitError, match="Invalid partition name specified"):
        sched.submit(spec(tmp_path))
    assert fake.jobs == {} and fake.count("POST") == 1
    sched.shutdown()


# -- status cache ----------------------------------------------------------------------------
def test_statuses_only_read_the_cache(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    (tmp_path / "abc123").mkdir()
    with pytest.raises(SchedulerUnavailable):  # never listed yet
        sched.statuses([record(tmp_path, "6@1795421277")])
    assert sched.informer.poll_once()
    for _ in range(50):
        assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE
    assert calls(fake) == [("GET", "/jobs")]


def test_a_job_moves_through_its_states(sched, fake, tmp_path, clock):
    native = sched.submit(spec(tmp_path))
    job = record(tmp_path, native)
    clock.now += 5
    assert sched.informer.poll_once() and sched.statuses([job])["abc123"].phase == PENDING
    fake.set_state(6, "RUNNING")
    clock.now += 5
    assert sched.informer.poll_once() and sched.statuses([job])["abc123"].phase == ACTIVE
    fake.set_state(6, "COMPLETED", exit_code=0)
    (tmp_path / "abc123" / "exit_status").write_text("0\n")
    clock.now += 5
    assert sched.informer.poll_once()
    state = sched.statuses([job])["abc123"]
    assert (state.phase, state.exit_code, state.reason) == (FINISHED, 0, "")
    assert sched.informer.get(6).state == "COMPLETED"


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


def test_no_change_answers_of_every_version_keep_the_cache(sched, fake, tmp_path, clock):
    """22.05's 304, 23.02+'s 200 with no jobs and a warning: a running job stays running, and `update_time`
    goes in the form each version reads (v0.0.40/41 a time string, the rest an epoch)."""
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    job = record(tmp_path, f"6@{SUBMITTED}")
    (tmp_path / "abc123").mkdir()
    for _ in range(5):
        clock.now += 5
        assert sched.informer.poll_once()
        assert sched.statuses([job])["abc123"].phase == ACTIVE
    assert sched.informer.not_modified == 4
    # after the full listing at 1005: slurmctld's own last_update where the version reports one, else our
    # clock minus the informer's margin
    since = 1003 if fake.version in WITHOUT_LAST_UPDATE else 1005
    adapter = sched.client.adapter
    assert [c.params.get("update_time") for c in fake.calls] == [None] + [
        str(adapter.update_time_param(since, 1005 + 5 * i)) for i in range(1, 5)]


def test_a_just_submitted_job_missing_from_an_older_listing_is_pending(sched, fake, tmp_path, clock):
    sched.informer.poll_once()  # listed at t=1000
    clock.now += 1
    fake.lose_next_answer("GET", "/job/6", performed=False)  # its submit time cannot be read back
    native = sched.submit(spec(tmp_path))
    assert native == "6"
    assert sched.statuses([record(tmp_path, native)])["abc123"].phase == PENDING


def test_purged_job_is_decided_by_its_exit_status_file(sched, fake, tmp_path, clock):
    fake.add_job("datamonkey-abc123", job_id=6, state="COMPLETED", submit_time=SUBMITTED)
    fake.purge(6)  # purged ~5 min after it ended
    clock.now += 5
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    lost = sched.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert lost.phase == LOST and "no longer knows job 6" in lost.reason
    (tmp_path / "abc123" / "exit_status").write_text("0\n")
    done = sched.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (done.phase, done.exit_code, done.reason) == (FINISHED, 0, "")


@pytest.mark.parametrize("name", [
    "datamonkey-newjob",  # a new job got our old id
    "datamonkey-abc123",  # same name, never requeued
])
def test_job_id_reuse_is_ignored(sched, fake, tmp_path, name):
    fake.add_job(name, job_id=6, state="RUNNING", submit_time=1795421999)
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    (tmp_path / "abc123" / "exit_status").write_text("3\n")
    state = sched.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (state.phase, state.exit_code) == (FINISHED, 3)  # from its own files, not the new job's RUNNING


@pytest.mark.parametrize("state,flags", [("PENDING", ()), ("PENDING", ("REQUEUED",)), ("RUNNING", ())])
def test_a_requeued_job_is_still_ours(sched, fake, tmp_path, state, flags):
    """A requeue keeps the id and name, sets a later submit time and counts it (as 22.05 showed for
    `scontrol requeue`: PENDING/BeginTime, submit_time + 1, restart_cnt 1; 22.05 says REQUEUED, 23.11+
    ["PENDING", "REQUEUED"])."""
    fake.add_job("datamonkey-abc123", job_id=6, state=state, flags=flags, submit_time=1795421999,
                 reason="BeginTime", restart_cnt=1)
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase in (PENDING, ACTIVE)
    sched.cancel(record(tmp_path, "6@1795421277"))
    assert fake.count("DELETE") == 1 and fake.jobs[6].state == "CANCELLED"


def test_a_job_requeued_after_it_started_is_still_ours(sched, fake, tmp_path, clock):
    native = sched.submit(spec(tmp_path))
    fake.set_state(6, "RUNNING")
    clock.now += 5
    fake.requeue(6)
    clock.now += 5
    sched.informer.poll_once()
    assert sched.informer.get(6).restart_count == 1 and sched.informer.get(6).submit_time == 1005
    assert sched.statuses([record(tmp_path, native)])["abc123"].phase == PENDING


def test_a_job_listed_with_an_earlier_submit_time_is_not_ours(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=1795421000)
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == LOST


def test_a_completed_job_awaits_its_exit_status_file_on_the_schedulers_clock(sched, fake, tmp_path, clock):
    fake.add_job("datamonkey-abc123", job_id=6, state="COMPLETED", submit_time=SUBMITTED,
                 start_time=SUBMITTED + 1, end_time=int(clock.now) - 1)
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE
    clock.now += EXIT_STATUS_GRACE_S
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == FINISHED


def test_timeout_reason(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="TIMEOUT", exit_code=15, reason="TimeLimit", time_limit=1,
                 submit_time=SUBMITTED)
    sched.informer.poll_once()
    (tmp_path / "abc123").mkdir()
    state = sched.statuses([record(tmp_path, "6@1795421277")])["abc123"]
    assert (state.phase, state.reason) == (FINISHED, "hit the 1 min time limit")


def test_failed_listing_keeps_serving_the_cache(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    (tmp_path / "abc123").mkdir()
    assert sched.informer.poll_once()
    fake.go_unreachable()
    assert not sched.informer.poll_once()
    assert "unreachable" in sched.informer.last_error
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == ACTIVE


def test_state_change_events(sched, fake, monkeypatch):
    monkeypatch.setattr(informer, "FULL_RELIST_EVERY", 1)  # an emptied table shows in a full listing
    events = []
    sched.informer.add_handler(lambda before, after: events.append((before and before.state, after and after.state)))
    fake.add_job("datamonkey-a", job_id=6)
    sched.informer.poll_once()
    fake.set_state(6, "RUNNING")
    sched.informer.poll_once()
    fake.purge(6)
    sched.informer.poll_once()
    assert events == [(None, "PENDING"), ("PENDING", "RUNNING"), ("RUNNING", None)]


# -- authentication --------------------------------------------------------------------------
def test_auth_failure_refreshes_the_token_and_retries_once(sched, fake, jwt):
    """22.05's fast 500 (-1), 23.02+'s 511 (1007): one refresh, one retry."""
    fake.refuse_token("token-0")
    fake.add_job("datamonkey-a", job_id=6)
    assert sched.informer.poll_once()
    assert jwt.refreshes == 1 and fake.count("GET", "/jobs") == 2
    assert [c.token for c in fake.calls] == ["token-0", "token-1"]
    assert sched.informer.get(6).name == "datamonkey-a"


def test_auth_failure_is_retried_only_once(sched, fake, jwt):
    fake.refuse_every_token = True
    assert not sched.informer.poll_once()
    assert (jwt.refreshes, fake.count("GET", "/jobs")) == (1, 2)


def test_a_401_is_retried_only_once(scheduler, jwt, requests_mock):
    listing = requests_mock.get(f"{API}/jobs", status_code=401, text="Authentication failure")
    assert not scheduler.informer.poll_once()
    assert (jwt.refreshes, listing.call_count) == (1, 2)


REFUSED_SUBMIT = [{"status_code": 500, "json": {"meta": META, "errors": [
    {"error_code": 5005, "error": "Zero Bytes were transmitted or received"}]}},
    {"status_code": 401, "text": "Authentication failure"}]


def test_submit_auth_failure_refreshes_and_resends_when_slurm_lacks_the_job(sched, fake, jwt, tmp_path):
    fake.refuse_token("token-0")
    fake.add_job("datamonkey-other", job_id=3)
    assert sched.submit(spec(tmp_path)) == "6@1000"
    assert (jwt.refreshes, fake.count("POST"), fake.count("GET", "/jobs")) == (1, 2, 1)
    assert [c.method for c in fake.calls[:3]] == ["POST", "GET", "POST"]  # looked up first
    assert [c.token for c in fake.calls if c.method == "POST"] == ["token-0", "token-1"]
    assert sorted(fake.jobs) == [3, 6]


def test_a_401_on_submit_refreshes_and_resends_when_slurm_lacks_the_job(scheduler, jwt, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", [REFUSED_SUBMIT[1], {"json": {"meta": META, "errors": [],
                                                                                 "job_id": 9}}])
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


def test_a_listing_requested_while_the_submission_was_in_flight_does_not_lose_the_job(sched, fake, tmp_path,
                                                                                      clock):
    """The listing was requested after our submit started but answered before slurmctld created the job."""
    sched.informer.poll_once()

    def a_concurrent_listing():
        clock.now += 1
        sched.informer.poll_once()  # requested at 1001, without the job

    fake.before_next("POST", "/job/submit", a_concurrent_listing)
    fake.lose_next_answer("GET", "/job/6", performed=False)
    native = sched.submit(spec(tmp_path))
    assert sched.statuses([record(tmp_path, native)])["abc123"].phase == PENDING
    assert calls(fake) == [("GET", "/jobs"), ("POST", "/job/submit"), ("GET", "/jobs"), ("GET", "/job/6")]
    fake.purge(6)  # slurmctld has no such job after all
    clock.now += 1
    sched.informer.poll_once()  # requested after the submission returned: now absence means gone
    assert sched.statuses([record(tmp_path, native)])["abc123"].phase == LOST


# -- recover, find_submitted -----------------------------------------------------------------
def test_find_submitted_returns_the_jobs_slurm_took_by_name(sched, fake, tmp_path):
    """The previous process died between POST and recording the id: the newest job by that name is ours."""
    assert sched.find_submitted([]) == {} and fake.calls == []
    fake.add_job("datamonkey-took", job_id=7, submit_time=SUBMITTED)
    fake.add_job("datamonkey-took", job_id=8, submit_time=SUBMITTED + 60, state="RUNNING")
    fake.add_job("datamonkey-someone-else", job_id=9)
    found = sched.find_submitted([record(tmp_path, "", job_id="took"), record(tmp_path, "", job_id="lost")])
    assert found == {"took": f"8@{SUBMITTED + 60}"}
    assert calls(fake) == [("GET", "/jobs")] and sched.informer.get(8).state == "RUNNING"


def test_find_submitted_without_a_job_table_is_unavailable(sched, fake, tmp_path):
    fake.refuse_every_token = True
    with pytest.raises(SchedulerUnavailable):
        sched.find_submitted([record(tmp_path, "", job_id="took")])
    fake.refuse_every_token = False
    fake.go_unreachable()
    with pytest.raises(SchedulerUnavailable):
        sched.find_submitted([record(tmp_path, "", job_id="took")])


def test_recover_settles_the_jobs_with_one_listing(sched, fake, tmp_path):
    sched.recover([])
    assert fake.calls == []
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    fake.add_job("datamonkey-done", job_id=7, state="FAILED", exit_code=768, reason="NonZeroExitCode",
                 submit_time=SUBMITTED)
    jobs = [record(tmp_path, f"6@{SUBMITTED}"), record(tmp_path, f"7@{SUBMITTED}", job_id="done"),
            record(tmp_path, f"8@{SUBMITTED}", job_id="purged")]
    for job in jobs:
        Path(job.workdir).mkdir()
    sched.recover(jobs)
    assert calls(fake) == [("GET", "/jobs")]
    states = sched.statuses(jobs)
    assert (states["abc123"].phase, states["done"].phase, states["purged"].phase) == (ACTIVE, FINISHED, LOST)


# -- cancel, health, shutdown ----------------------------------------------------------------
def test_cancel_only_our_own_live_job(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    sched.cancel(record(tmp_path, "6@1795421277"))
    assert fake.count("DELETE") == 1 and fake.jobs[6].state == "CANCELLED"
    fake.purge(6)
    fake.add_job("datamonkey-someone-else", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    sched.cancel(record(tmp_path, "6@1795421277"))
    fake.purge(6)  # unknown: 22.05 500, 23.02+ 404, with 2017
    sched.cancel(record(tmp_path, "6@1795421277"))
    assert fake.count("DELETE") == 1 and fake.count("GET", "/job/6") == 3


def test_cancel_of_a_finished_job_sends_nothing(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="COMPLETED", submit_time=SUBMITTED)
    sched.cancel(record(tmp_path, "6@1795421277"))
    assert fake.count("DELETE") == 0 and fake.jobs[6].state == "COMPLETED"


PING_UP = {"meta": META, "errors": [], "pings": [{"hostname": "vm", "ping": "UP", "status": 0, "mode": "primary"}]}


def statuses(checks):
    return {name: check.status for name, check in checks.items()}


def test_health_all_components_up(sched, fake):
    assert sched.informer.poll_once()
    assert statuses(sched.health()) == {"slurm_token": "healthy", "slurmrestd": "healthy",
                                        "slurmctld": "healthy", "job_listing": "healthy"}


def test_auto_discovery_speaks_the_version_slurmrestd_serves(fake, jwt, clock):
    """SLURM_REST_API_PATH=auto: /openapi/v3 lists the version (as the newest), the first call settles it."""
    sched = over(fake, jwt, clock, api_path="auto")
    assert sched.describe() == {}
    assert statuses(sched.health())["slurmctld"] == "healthy"
    release = {"22.05": "22.05.8", "24.11": "24.11.5", "26.05": "26.05.5", None: "23.02.8"}[fake.release]
    assert sched.describe() == {"slurm_release": release, "slurm_api_version": fake.version}
    assert calls(fake) == [("GET", "/openapi/v3"), ("GET", "/ping")]
    sched.shutdown()


def refused_token_ping(fake):
    """22.05 cannot tell a refused token from a down slurmctld (a 500); 23.02+ answer 511, and 26.05's ping a
    200 whose controller is "not responding" with an authentication error."""
    fake.refuse_every_token = True
    if fake.release == "22.05":
        return "slurmctld", "slurmrestd answered HTTP 500: slurmctld unreachable, or the service's token refused"
    if fake.release == "26.05":
        return "slurm_token", "slurmctld refused the service's token (ping: authentication error)"
    return "slurm_token", "slurmrestd refused the service's token (HTTP 511)"


@pytest.mark.parametrize("break_it", [
    lambda fake: (fake.go_unreachable(), ("slurmrestd", "unreachable"))[1],
    lambda fake: (fake.go_unreachable(requests.exceptions.ReadTimeout("slow")),
                  ("slurmctld", "no answer from slurmctld within 5 s"))[1],
    lambda fake: (setattr(fake, "controller_responding", False), ("slurmctld", "slurmctld does not answer"))[1],
    refused_token_ping,
], ids=["unreachable", "read-timeout", "controller-down", "token-refused"])
def test_health_names_the_failing_component_and_why(sched, fake, break_it):
    component, reason = break_it(fake)
    checks = sched.health()
    assert checks[component].status == "unhealthy"
    assert reason in checks[component].reason
    assert [name for name, check in checks.items() if check.status == "unhealthy"] == [component]


@pytest.mark.parametrize("ping,component,reason", [
    ({"status_code": 500, "json": {"meta": META, "errors": [
        {"description": "slurmctld config is unable to load", "error_number": -1, "error": "Unspecified error",
         "source": "slurm_load_ctl_conf"}]}}, "slurmctld", "slurmrestd answered HTTP 500"),
    ({"status_code": 401, "text": "Authentication failure"}, "slurm_token", "401"),
])
def test_health_names_the_failing_component_of_a_v0038_error_answer(scheduler, requests_mock, ping, component,
                                                                     reason):
    requests_mock.get(f"{API}/ping", **ping)
    checks = scheduler.health()
    assert checks[component].status == "unhealthy"
    assert reason in checks[component].reason
    assert [name for name, check in checks.items() if check.status == "unhealthy"] == [component]


def test_health_pings_slurm_at_most_once_per_cache_period(sched, fake, clock):
    for _ in range(50):
        assert statuses(sched.health())["slurmctld"] == "healthy"
    assert fake.count("GET", "/ping") == 1
    clock.now += 5
    in_flight = threading.Event()
    fake.before_next("GET", "/ping", lambda: in_flight.wait(30))  # the refreshing ping is still on its way
    fake.go_unreachable()
    assert statuses(sched.health())["slurmrestd"] == "healthy"  # the last answer, while one ping refreshes it
    in_flight.set()
    sched.pings.wait()
    assert statuses(sched.health())["slurmrestd"] == "unhealthy"
    assert fake.count("GET", "/ping") == 2 and len(fake.calls) == 2  # the one answered, the one refused


def test_health_with_an_unreadable_key_does_not_call_slurm(sched, fake, jwt):
    jwt.broken = "cannot read SLURM_JWT_KEY_PATH /k: Permission denied"
    checks = sched.health()
    assert checks["slurm_token"] == ComponentHealth(
        "unhealthy", "the service cannot sign its Slurm token (SLURM_JWT_KEY_PATH)", jwt.broken)
    assert statuses(checks)["slurmrestd"] == "unknown" and fake.calls == []


def test_health_reports_a_stale_job_listing_with_its_error(sched, fake, clock):
    assert statuses(sched.health())["job_listing"] == "unknown"  # no listing attempted yet
    assert sched.informer.poll_once()
    clock.now += 61
    fake.go_unreachable()
    assert not sched.informer.poll_once()
    listing = sched.health()["job_listing"]
    assert listing.status == "unhealthy"
    assert listing.reason == "the job listing is stale; serving cached job states"
    assert "last job listing 61 s ago" in listing.detail and "unreachable" in listing.detail


@pytest.mark.parametrize("version", VERSIONS)
def test_shutdown_stops_the_poller_and_the_token_manager(jwt, version):
    fake = FakeSlurmrestd(version, url=URL)
    sched = SlurmRestScheduler(base_url=URL, api_path=f"/slurm/{version}", partition="debug", jwt=jwt, poll_secs=1,
                               session=fake.session())
    deadline = time.monotonic() + 10
    while sched.informer.listings < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    sched.shutdown()
    assert jwt.stopped and sched.informer._thread is None
    assert calls(fake)[0] == ("GET", "/jobs")  # the fake checks it came under /slurm/<version>


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


def test_submit_with_client_credentials_uses_them_for_the_submission_only(sched, fake, tmp_path):
    job_spec = dataclasses.replace(spec(tmp_path), credentials=CLIENT)
    assert sched.submit(job_spec) == "6@1000"
    post, read = fake.calls
    assert (post.method, post.user, post.token) == ("POST", "alice", "client.jwt.token")
    assert fake.jobs[6].user_name == "alice"  # the job runs as the client's user
    assert (read.path, read.user) == ("/job/6", "dm")  # status reads stay the service's


def test_a_refused_client_token_is_credentials_refused_and_never_retried_with_ours(sched, fake, jwt, tmp_path):
    fake.refuse_token("client.jwt.token")
    with pytest.raises(CredentialsRefused, match="X-SLURM-USER-TOKEN") as caught:
        sched.submit(dataclasses.replace(spec(tmp_path), credentials=CLIENT))
    assert "client.jwt.token" not in str(caught.value)
    assert (fake.count("POST"), jwt.refreshes) == (1, 0) and fake.jobs == {}


def test_a_client_token_refused_with_a_401_is_credentials_refused(scheduler, jwt, tmp_path, requests_mock):
    post = requests_mock.post(f"{API}/job/submit", status_code=401, text="Authentication failure")
    with pytest.raises(CredentialsRefused, match="X-SLURM-USER-TOKEN") as caught:
        scheduler.submit(dataclasses.replace(spec(tmp_path), credentials=CLIENT))
    assert "client.jwt.token" not in str(caught.value)
    assert (post.call_count, jwt.refreshes) == (1, 0)


def test_cancel_with_client_credentials(sched, fake, tmp_path):
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    sched.cancel(record(tmp_path, "6@1795421277"), CLIENT)
    [delete] = [c for c in fake.calls if c.method == "DELETE"]
    assert (delete.user, delete.token) == ("alice", "client.jwt.token")
    assert fake.jobs[6].state == "CANCELLED"


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


def test_an_empty_full_listing_still_empties_the_cache(sched, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(informer, "FULL_RELIST_EVERY", 1)  # every listing is a full one
    fake.add_job("datamonkey-abc123", job_id=6, state="RUNNING", submit_time=SUBMITTED)
    (tmp_path / "abc123").mkdir()
    sched.informer.poll_once()
    fake.purge(6)
    sched.informer.poll_once()
    assert [c.params for c in fake.calls] == [{}, {}]
    assert sched.statuses([record(tmp_path, "6@1795421277")])["abc123"].phase == LOST


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
