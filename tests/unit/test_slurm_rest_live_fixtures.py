"""Every slurmrestd adapter against what a live daemon really answered.

The fixtures are recorded from the compose stacks by scripts/capture-slurm-fixtures.sh (Debian bookworm's
Slurm 22.05.8, trixie's 24.11.5, forky's 26.05.5; tests/fixtures/slurmrestd/README.md): each file holds the
request the service's adapter sent and the daemon's answer (status, body). So these tests check the
translation to the neutral types on real bodies, the submit body against the version's served OpenAPI
schema, and the informer's "no change" handling with the answers each version really gives.
"""

import json
import re

import pytest

from service.schedulers.slurm_rest.adapters import ADAPTERS, SlurmError, SubmitRequest
from service.schedulers.slurm_rest.client import SlurmRestClient, is_outage
from service.schedulers.slurm_rest.discovery import ApiVersion, newest_supported, served_versions
from service.schedulers.slurm_rest.informer import JobInformer
from service.schedulers.slurm_rest.states import ACTIVE, FINISHED, describe_exit, phase_of
from tests.unit.fake_slurmrestd import FIXTURES, openapi, operation, record, schema_validator

#: (release, version) of every live capture: tests/fixtures/slurmrestd/<release>/<version>/.
CAPTURED = sorted(((d.parent.name, d.name) for d in FIXTURES.glob("[0-9]*.[0-9]*/v*") if d.is_dir()),
                  key=lambda rv: (rv[0], tuple(int(p) for p in rv[1][1:].split("."))))
RELEASES = {"22.05": "22.05.8", "24.11": "24.11.5", "26.05": "26.05.5"}
#: Versions whose listings take `update_time` as a time string only (an epoch number gets a 422).
TIME_STRING_VERSIONS = {"v0.0.40", "v0.0.41"}
URL = "http://slurm.test:6820"
ids = [f"{release}-{version}" for release, version in CAPTURED]
captured = pytest.mark.parametrize("release,version", CAPTURED, ids=ids)


def test_every_release_and_adapter_is_captured():
    assert set(RELEASES) == {release for release, _ in CAPTURED}
    assert CAPTURED == [("22.05", "v0.0.37"), ("22.05", "v0.0.38"),
                        ("24.11", "v0.0.40"), ("24.11", "v0.0.41"), ("24.11", "v0.0.42"),
                        ("26.05", "v0.0.42"), ("26.05", "v0.0.43"), ("26.05", "v0.0.44"), ("26.05", "v0.0.45")]


def body(release, version, name):
    return record(release, version, name)["response"]["body"]


def validator(release, ref):
    return schema_validator(openapi(release)["components"], ref)


def assert_valid(check, instance):
    """No schema errors but Slurm's nulls: it sends `null` for an absent object (e.g. `job_resources` of a job
    that never ran) where its generated schema declares the object without `nullable`."""
    errors = [e for e in check.iter_errors(instance) if e.instance is not None]
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def request_validator(release, version, method, path):
    return validator(release, operation(release, version, method, path)["requestBody"]["content"]
                     ["application/json"]["schema"])


def response_validator(release, version, method, path):
    responses = operation(release, version, method, path)["responses"]
    return validator(release, responses["200"]["content"]["application/json"]["schema"])


def raw_job(release, version, name):
    jobs = body(release, version, name)["jobs"]
    assert len(jobs) == 1
    return jobs[0]


def number(value):
    """A raw time/count as recorded: a plain int (22.05) or `{set, infinite, number}`."""
    return value["number"] if isinstance(value, dict) else value


REQUEST = SubmitRequest(
    name="datamonkey-abc", partition="debug", current_working_directory="/data/jobs/abc",
    environment={"PATH": "/usr/bin:/bin", "HYPHY_PATH": "/opt/hyphy"}, standard_output="/data/jobs/abc/slurm.out",
    standard_error="/data/jobs/abc/slurm.err", cpus_per_task=2, memory_per_node_mb=900, time_limit_min=60,
    script="#!/bin/bash\ntrue\n")


# -- the OpenAPI document ----------------------------------------------------------------------
@pytest.mark.parametrize("release", sorted(RELEASES))
def test_discovery_picks_the_newest_captured_version(release):
    served = served_versions(openapi(release))
    newest = max((v for r, v in CAPTURED if r == release), key=lambda v: int(v.split(".")[-1]))
    assert newest_supported(served) == newest


# -- submit ------------------------------------------------------------------------------------
@captured
def test_submit_body_validates_against_the_served_schema(release, version):
    adapter = ADAPTERS[version]()
    check = request_validator(release, version, "post", adapter.submit_path)
    check.validate(adapter.submit_body(REQUEST))
    recorded = record(release, version, "submit_ok")["request"]
    check.validate(recorded["body"])
    assert recorded["path"] == f"/slurm/{version}{adapter.submit_path}"
    assert set(recorded["body"]) == set(adapter.submit_body(REQUEST))
    # no typo'd keys: everything we send in `job` is a declared property of the job description
    schemas = openapi(release)["components"]["schemas"]
    desc = next(s for name, s in schemas.items() if name.startswith(f"{version}_job_") and
                set(recorded["body"]["job"]) <= set(s.get("properties", {})))
    assert set(adapter.submit_body(REQUEST)["job"]) <= set(desc["properties"])


@captured
def test_the_other_wire_format_would_not_validate(release, version):
    """The validator has teeth: the 22.05 body fails 23.02+'s schema and vice versa."""
    other = "v0.0.41" if version in ("v0.0.37", "v0.0.38") else "v0.0.37"
    check = request_validator(release, version, "post", ADAPTERS[version]().submit_path)
    assert list(check.iter_errors(ADAPTERS[other]().submit_body(REQUEST)))


@captured
def test_parse_submit_ok(release, version):
    recorded = record(release, version, "submit_ok")
    assert recorded["response"]["status"] == 200
    result = ADAPTERS[version]().parse_submit(recorded["response"]["body"])
    assert result.errors == [] and result.user_message == ""
    assert result.job_id == raw_job(release, version, "job_running")["job_id"]
    if release != "22.05":  # 22.05's schema declares meta.Slurm.version numbers as strings; it sends integers
        assert_valid(response_validator(release, version, "post", "/job/submit"), recorded["response"]["body"])


#: cpus_per_task 9999: 22.05 queues it with error 2015 (pending forever), 24.11 refuses it (500, 2014),
#: 26.05 queues it again but reports 2015 only as a warning of a 200.
REFUSED_CPUS = {"22.05": (200, 2015, True), "24.11": (500, 2014, False), "26.05": (200, 2015, True)}


@captured
def test_an_impossible_cpu_count(release, version):
    recorded = record(release, version, "submit_refused_cpus")
    status, code, queued = REFUSED_CPUS[release]
    assert recorded["request"]["body"]["job"]["cpus_per_task"] == 9999
    assert recorded["response"]["status"] == status
    adapter = ADAPTERS[version]()
    result = adapter.parse_submit(recorded["response"]["body"])
    assert (result.job_id is not None) is queued
    assert [e.code for e in result.errors] == [code]
    message = ("Requested partition configuration not available now" if code == 2015
               else "Requested node configuration is not available")
    assert result.errors[0].message == message
    if not queued:  # what the client reads from a non-2xx answer
        assert adapter.parse_errors(recorded["response"]["body"])[0].code == code


def test_a_warning_that_is_not_a_submit_error_is_ignored():
    adapter = ADAPTERS["v0.0.45"]()
    result = adapter.parse_submit({"job_id": 3, "errors": [], "warnings": [
        {"description": "Requested partition configuration not available now", "source": "slurm_submit_batch_job()"},
        {"description": "Job submission resulted in non-zero return code: QOS limit reached", "source": "x"}]})
    assert result.errors == [SlurmError(code=None, message="QOS limit reached", source="x")]  # unknown code: kept
    assert adapter.parse_submit({"job_id": 3, "errors": [], "warnings": [{"description": "something else"}]}).errors == []


@captured
def test_a_partition_that_does_not_exist(release, version):
    recorded = record(release, version, "submit_refused_partition")
    assert recorded["request"]["body"]["job"]["partition"] == "nosuchpartition"
    assert recorded["response"]["status"] == (422 if release == "26.05" else 500)
    adapter = ADAPTERS[version]()
    errors = adapter.parse_errors(recorded["response"]["body"])
    assert [(e.code, e.message) for e in errors] == [(2000, "Invalid partition name specified")]
    assert adapter.parse_submit(recorded["response"]["body"]).job_id is None


# -- job records -------------------------------------------------------------------------------
@captured
@pytest.mark.parametrize("name,state,exit_codes", [
    ("job_running", "RUNNING", {0}),
    ("job_completed", "COMPLETED", {0}),
    ("job_failed", "FAILED", {768}),  # exit 3 → raw wait status 3 << 8
    # cancelled while running: SIGTERM (15), or the batch shell's own exit 128+15 (143 << 8)
    ("job_cancelled", "CANCELLED", {15, 143 << 8}),
])
def test_parse_job(release, version, name, state, exit_codes):
    raw = raw_job(release, version, name)
    job = ADAPTERS[version]().parse_job(raw)
    assert job.state == state
    assert job.exit_code in exit_codes
    assert job.job_id == raw["job_id"] and job.name == raw["name"]
    submitted_as = {"job_cancelled": "running"}.get(name, name.split("_")[1])  # the running job, cancelled
    assert job.name.startswith("fixture-") and job.name.endswith(f"-{version.replace('.', '')}-{submitted_as}")
    assert (job.user_name, job.partition, job.time_limit, job.restart_count) == ("datamonkey", "debug", 5, 0)
    assert job.cluster == ("datamonkey" if release != "22.05" else raw["cluster"])
    assert job.submit_time == number(raw["submit_time"]) and job.submit_time > 1_700_000_000
    assert job.start_time == number(raw["start_time"]) and job.start_time >= job.submit_time
    assert job.end_time == number(raw["end_time"]) and job.end_time >= job.start_time
    assert phase_of(job.state) == (ACTIVE if state == "RUNNING" else FINISHED)
    if name == "job_failed":
        assert job.reason == "NonZeroExitCode" and describe_exit(job.exit_code) == "exit code 3"


@captured
def test_parse_jobs_listing(release, version):
    """The full listing, taken while the `running` job ran and after the others had ended."""
    listing = body(release, version, "jobs")
    adapter = ADAPTERS[version]()
    jobs = {j.job_id: j for j in adapter.parse_jobs(listing)}
    assert len(jobs) == len(listing["jobs"])
    for name, state in (("running", "RUNNING"), ("completed", "COMPLETED"), ("failed", "FAILED")):
        job_id = raw_job(release, version, f"job_{name}")["job_id"]
        assert jobs[job_id].state == state
    assert jobs[raw_job(release, version, "job_failed")["job_id"]].exit_code == 768
    assert adapter.parse_errors(listing) == []
    last_update = adapter.parse_last_update(listing)
    if release == "22.05":
        assert last_update is None  # no such field: the informer uses its own clock
    else:
        assert last_update == listing["last_update"]["number"] and last_update > 1_700_000_000
    if release != "22.05":  # 22.05's own schema does not describe its bodies (e.g. nulls for integers)
        assert_valid(response_validator(release, version, "get", "/jobs"), listing)


@captured
def test_listing_after_a_change_is_the_whole_table(release, version):
    recorded = record(release, version, "jobs_changed")
    assert "update_time" in recorded["request"]["params"]
    assert recorded["response"]["status"] == 200
    adapter = ADAPTERS[version]()
    jobs = {j.job_id: j for j in adapter.parse_jobs(recorded["response"]["body"])}
    assert jobs[raw_job(release, version, "job_cancelled")["job_id"]].state == "CANCELLED"
    assert len(jobs) >= len(body(release, version, "jobs")["jobs"])  # not a delta


@captured
def test_unknown_job(release, version):
    recorded = record(release, version, "job_not_found")
    assert recorded["request"]["path"].endswith("/job/999999")
    assert recorded["response"]["status"] == (500 if release == "22.05" else 404)
    adapter = ADAPTERS[version]()
    assert [e.code for e in adapter.parse_errors(recorded["response"]["body"])] == [2017]
    assert adapter.parse_jobs(recorded["response"]["body"]) == []


# -- cancel ------------------------------------------------------------------------------------
@captured
def test_cancel(release, version):
    recorded = record(release, version, "cancel_ok")
    assert recorded["request"]["method"] == "DELETE"
    assert recorded["request"]["path"].endswith(f"/job/{raw_job(release, version, 'job_cancelled')['job_id']}")
    assert recorded["response"]["status"] == 200
    assert ADAPTERS[version]().parse_cancel(recorded["response"]["body"]) == []


@captured
def test_cancel_an_unknown_job(release, version):
    """22.05: 500 with 2017. 24.11/26.05: a 200 with no errors; v0.0.42+ put 2017 in a per-job `status`
    list instead, which parse_cancel reads (v0.0.40/41 say nothing at all)."""
    recorded = record(release, version, "cancel_not_found")
    adapter = ADAPTERS[version]()
    errors = adapter.parse_errors(recorded["response"]["body"])
    if release == "22.05":
        assert recorded["response"]["status"] == 500 and [e.code for e in errors] == [2017]
        return
    assert recorded["response"]["status"] == 200 and errors == []
    refusals = adapter.parse_cancel(recorded["response"]["body"])
    if version in TIME_STRING_VERSIONS:
        assert "status" not in recorded["response"]["body"] and refusals == []
    else:
        assert [(e.code, e.message) for e in refusals] == [(2017, "Invalid job id specified")]


# -- authentication and ping -------------------------------------------------------------------
@captured
def test_a_badly_signed_token(release, version):
    """22.05: a 500 with -1 (same as slurmctld down, only fast). 24.11+: 511 with 1007."""
    recorded = record(release, version, "auth_failed")
    errors = ADAPTERS[version]().parse_errors(recorded["response"]["body"])
    if release == "22.05":
        assert recorded["response"]["status"] == 500 and [e.code for e in errors] == [-1]
    else:
        assert recorded["response"]["status"] == 511
        assert [(e.code, e.message) for e in errors] == [(1007, "Protocol authentication error")]


class FakeJWT:
    def __init__(self):
        self.refreshes = 0

    def headers(self):
        return {"X-SLURM-USER-NAME": "datamonkey", "X-SLURM-USER-TOKEN": f"token-{self.refreshes}"}

    def refresh_now(self):
        self.refreshes += 1


def replay(requests_mock, url, recorded, method="GET"):
    response = recorded["response"]
    kwargs = {"status_code": response["status"]}
    if response["body"] is not None:
        kwargs["json"] = response["body"]
    else:
        kwargs["text"] = response.get("text", "")
    getattr(requests_mock, method.lower())(url, **kwargs)


@captured
def test_a_refused_token_is_refreshed_once_on_every_release(release, version, requests_mock):
    """22.05's fast 500 (-1) and 23.02+'s 511 (1007) both get one token refresh and one retry."""
    adapter = ADAPTERS[version]()
    client = SlurmRestClient(URL, ApiVersion(f"/slurm/{version}"), FakeJWT())
    replay(requests_mock, f"{URL}/slurm/{version}{adapter.jobs_path}", record(release, version, "auth_failed"))
    with pytest.raises(Exception) as caught:
        client.request("GET", adapter.jobs_path)
    assert client.jwt.refreshes == 1 and requests_mock.call_count == 2
    # 22.05 cannot tell a refused token from a down slurmctld; 23.02+ can, and it is no outage.
    assert is_outage(caught.value) == (release == "22.05")


@captured
def test_ping_and_release(release, version):
    recorded = record(release, version, "ping")
    adapter = ADAPTERS[version]()
    assert recorded["response"]["status"] == 200 and adapter.ping_ok(recorded["response"]["body"])
    for name in ("ping", "jobs", "submit_ok", "job_not_found", "auth_failed"):
        assert adapter.parse_release(body(release, version, name)) in (RELEASES[release], "")
    assert adapter.parse_release(recorded["response"]["body"]) == RELEASES[release]
    pings = recorded["response"]["body"]["pings"]
    assert not adapter.ping_ok({**recorded["response"]["body"],
                                "pings": [{**p, "responding": False, "pinged": "DOWN", "ping": "DOWN"} for p in pings]})
    if release != "22.05":
        assert_valid(response_validator(release, version, "get", "/ping"), recorded["response"]["body"])


# -- "no change" -------------------------------------------------------------------------------
@captured
def test_no_change_answer(release, version):
    """22.05: 304 with an empty body. 23.02+: 200, `jobs: []`, the warning, last_update 0."""
    recorded = record(release, version, "jobs_not_modified")
    adapter = ADAPTERS[version]()
    response = recorded["response"]
    if release == "22.05":
        assert (response["status"], response["body"], response["text"]) == (304, None, "")
        return
    assert response["status"] == 200
    assert adapter.parse_jobs(response["body"]) == [] and adapter.parse_errors(response["body"]) == []
    [warning] = response["body"]["warnings"]
    assert re.fullmatch(r"No job changes since update_time\[\d+\]=\S+", warning["description"])
    assert adapter.parse_last_update(response["body"]) is None  # 0: never sent back


@captured
def test_update_time_is_sent_in_a_form_the_version_accepts(release, version):
    adapter = ADAPTERS[version]()
    sent = record(release, version, "jobs_not_modified")["request"]["params"]["update_time"]
    since = adapter.parse_last_update(body(release, version, "jobs"))
    if release == "22.05":
        assert since is None and isinstance(sent, int) and adapter.update_time_param(sent, sent + 7.9) == sent
    elif version in TIME_STRING_VERSIONS:
        assert re.fullmatch(r"now-\d+seconds", sent)
        assert adapter.update_time_param(since, since + 7.9) == "now-7seconds"
        assert adapter.update_time_param(since, since - 3) == "now-0seconds"
        epoch = record(release, version, "jobs_update_time_epoch")
        assert epoch["request"]["params"]["update_time"] == since
        assert epoch["response"]["status"] == 422
        assert [e.code for e in adapter.parse_errors(epoch["response"]["body"])] == [9202, 9000]
    else:
        assert sent == since and adapter.update_time_param(since, since + 7.9) == since
        assert not (FIXTURES / release / version / "jobs_update_time_epoch.json").exists()


def informer_against_the_capture(release, version, requests_mock):
    """A JobInformer whose slurmrestd answers as the live one did: the full listing without
    `update_time`; with it, the recorded "no change" answer, or the recorded 422 when the value is an
    epoch number and the version refuses those."""
    adapter = ADAPTERS[version]()
    listing = record(release, version, "jobs")
    unchanged = record(release, version, "jobs_not_modified")
    epoch_path = FIXTURES / release / version / "jobs_update_time_epoch.json"
    refused = json.loads(epoch_path.read_text()) if epoch_path.exists() else None
    sent = []

    def answer(request, context):
        value = request.qs.get("update_time", [None])[0]
        sent.append(value)
        chosen = listing if value is None else refused if (refused and value.isdigit()) else unchanged
        context.status_code = chosen["response"]["status"]
        if chosen["response"]["body"] is None:
            return chosen["response"].get("text", "")
        context.headers["Content-Type"] = "application/json"
        return json.dumps(chosen["response"]["body"])

    requests_mock.get(f"{URL}/slurm/{version}{adapter.jobs_path}", text=answer)
    client = SlurmRestClient(URL, ApiVersion(f"/slurm/{version}"), FakeJWT())
    informer = JobInformer(client, interval_s=5, name_prefix="fixture-")
    return informer, raw_job(release, version, "job_running")["job_id"], sent


@captured
def test_informer_keeps_a_running_job_across_no_change_polls(release, version, requests_mock):
    """The bug this guards against: an empty `update_time` listing taken as "every job is gone"."""
    informer, job_id, sent = informer_against_the_capture(release, version, requests_mock)
    assert informer.poll_once()
    assert informer.get(job_id).state == "RUNNING"
    for _ in range(4):
        informer.poll_once()
        job = informer.get(job_id)
        assert job is not None and job.state == "RUNNING"
    assert sent[0] is None and all(value is not None for value in sent[1:])
    assert len(sent) == 5  # no confirming full listing: the answer was recognised as "no change"


@captured
def test_informer_no_change_polls_are_successful_syncs(release, version, requests_mock):
    informer, job_id, sent = informer_against_the_capture(release, version, requests_mock)
    assert informer.poll_once()
    for _ in range(4):
        assert informer.poll_once(), informer.last_error
    assert informer.not_modified == 4 and informer.listings == 5 and informer.last_error == ""
