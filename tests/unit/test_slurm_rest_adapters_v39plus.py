"""slurmrestd adapters v0.0.39 to v0.0.45: the data_parser wire format.

v0.0.39 (Slurm 23.02, which no Debian release ships) is contract-tested against schema-built fixtures
(tests/fixtures/slurmrestd/v0.0.39/, see its README): every fixture and every submit body is validated against
a trimmed copy of its schema. v0.0.40 to v0.0.45 are tested against what live daemons answered (24.11.5 and
26.05.5; tests/unit/test_slurm_rest_live_fixtures.py); here they share the shape rules with synthetic values
(state lists, exit codes, wrapped numbers, requeue flags, the submit `result` object) for cases the live
captures do not hold (TIMEOUT, PENDING without a time limit, COMPLETING, SPECIAL_EXIT, requeues).
"""

import json
from pathlib import Path

import jsonschema
import pytest

from service.schedulers.slurm_rest.adapters import ADAPTERS, SlurmError, SlurmJob, SubmitRequest
from service.schedulers.slurm_rest.states import FINISHED, PENDING, describe_exit, phase_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slurmrestd"
#: Versions with schema-built fixtures (the rest are recorded live: test_slurm_rest_live_fixtures.py).
VERSIONS = ["v0.0.39"]
#: Versions whose `job_state` is a list and whose submit answer has `result`.
LIST_STATE_VERSIONS = ["v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]
#: Every data_parser version.
DATA_PARSER_VERSIONS = ["v0.0.39", *LIST_STATE_VERSIONS]
#: Where each live-recorded version's served OpenAPI schema is (its first capture).
LIVE_RELEASE = {"v0.0.40": "24.11", "v0.0.41": "24.11", "v0.0.42": "24.11", "v0.0.43": "26.05", "v0.0.44": "26.05",
                "v0.0.45": "26.05"}

#: version → endpoint → the schema component its body must match.
COMPONENTS = {
    "v0.0.39": {"submit": "v0.0.39_job_submission", "job": "v0.0.39_job_desc_msg",
                "jobs": "v0.0.39_jobs_response", "submitted": "v0.0.39_job_submission_response",
                "ping": "v0.0.39_pings"},
    **{version: {"submitted": f"{version}_openapi_job_submit_response"} for version in LIST_STATE_VERSIONS},
}


def fixture(version, name):
    return json.loads((FIXTURES / version / name).read_text())


def schema(version):
    if version in LIVE_RELEASE:  # the schema the live daemon served (trimmed by the capture script)
        return fixture(LIVE_RELEASE[version], "openapi.json")["response"]["body"]["components"]["schemas"]
    return fixture(version, "openapi-trimmed.json")["components"]["schemas"]


def validator(version, endpoint):
    root = {"$ref": f"#/components/schemas/{COMPONENTS[version][endpoint]}",
            "components": {"schemas": schema(version)}}
    jsonschema.Draft7Validator.check_schema(root)
    return jsonschema.Draft7Validator(root)


REQUEST = SubmitRequest(
    name="datamonkey-abc", partition="debug", current_working_directory="/data/jobs/abc",
    environment={"PATH": "/usr/bin:/bin", "HYPHY_PATH": "/opt/hyphy"}, standard_output="/data/jobs/abc/slurm.out",
    standard_error="/data/jobs/abc/slurm.err", cpus_per_task=2, memory_per_node_mb=900, time_limit_min=60,
    script="#!/bin/bash\ntrue\n")


def no_val(number=0, set_=True, infinite=False):
    return {"set": set_, "infinite": infinite, "number": number}


# -- submit ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", DATA_PARSER_VERSIONS)
def test_submit_body_is_the_schema_shape(version):
    body = ADAPTERS[version]().submit_body(REQUEST)
    assert body == {
        "job": {
            "name": "datamonkey-abc", "partition": "debug", "current_working_directory": "/data/jobs/abc",
            "environment": ["PATH=/usr/bin:/bin", "HYPHY_PATH=/opt/hyphy"],  # a list of K=V, not an object
            "standard_output": "/data/jobs/abc/slurm.out", "standard_error": "/data/jobs/abc/slurm.err",
            "cpus_per_task": 2,  # plain int32 in every job_desc_msg
            "memory_per_node": {"set": True, "infinite": False, "number": 900},  # uint64_no_val
            "time_limit": {"set": True, "infinite": False, "number": 60},  # uint32_no_val
            "script": "#!/bin/bash\ntrue\n",  # inside job (the top-level one is deprecated in v0.0.41)
        },
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_submit_body_validates_against_the_request_schema(version):
    body = ADAPTERS[version]().submit_body(REQUEST)
    validator(version, "submit").validate(body)
    declared = schema(version)
    assert set(body) <= set(declared[COMPONENTS[version]["submit"]]["properties"])
    assert set(body["job"]) <= set(declared[COMPONENTS[version]["job"]]["properties"])  # no typo'd keys


@pytest.mark.parametrize("version", VERSIONS)
def test_the_22_05_submit_shape_would_not_validate(version):
    """The validator has teeth: v0.0.37's object environment and plain-int time limit are rejected."""
    old = ADAPTERS["v0.0.37"]().submit_body(REQUEST)
    errors = {tuple(e.path) for e in validator(version, "submit").iter_errors(old)}
    assert {("job", "environment"), ("job", "time_limit"), ("job", "memory_per_node")} <= errors


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_submit_ok(version):
    body = fixture(version, "submit_ok.json")
    validator(version, "submitted").validate(body)
    result = ADAPTERS[version]().parse_submit(body)
    assert (result.job_id, result.errors, result.user_message) == (25, [], "")


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_submit_200_with_errors(version):
    body = fixture(version, "submit_with_errors.json")
    validator(version, "submitted").validate(body)
    result = ADAPTERS[version]().parse_submit(body)
    assert result.job_id == 26
    assert result.errors == [SlurmError(code=2015, message="Requested partition configuration not available now",
                                        description="Requested partition configuration not available now",
                                        source="slurm_submit_batch_job()")]  # result.error_code not doubled
    assert "Requested partition configuration not available now" in str(result.errors[0])


@pytest.mark.parametrize("version", LIST_STATE_VERSIONS)
def test_a_result_only_error_code_is_still_an_error(version):
    body = {"result": {"job_id": 30, "step_id": "batch", "error_code": 2068, "error": "Nodes busy",
                       "job_submit_user_msg": "queued"}, "errors": [], "warnings": []}
    validator(version, "submitted").validate(body)
    result = ADAPTERS[version]().parse_submit(body)
    assert result.job_id == 30  # taken from result when the top level has none
    assert result.errors == [SlurmError(code=2068, message="Nodes busy", source="result")]
    assert result.user_message == "queued"


def test_v0_0_39_has_no_result_object():
    result = ADAPTERS["v0.0.39"]().parse_submit({"result": {"job_id": 30, "error_code": 2068}, "errors": []})
    assert (result.job_id, result.errors) == (None, [])


# -- job listings ------------------------------------------------------------------------------
EXPECTED_JOBS = [
    SlurmJob(job_id=8, name="datamonkey-0f5c2b1e", state="FAILED", reason="NonZeroExitCode", exit_code=768,
             submit_time=1795421272, start_time=1795421274, end_time=1795421281, cluster="local", time_limit=5,
             user_name="dm", partition="normal"),
    SlurmJob(job_id=12, name="datamonkey-5a7d9c03", state="PENDING", reason="Priority", exit_code=None,
             submit_time=1795421290, start_time=None, end_time=None, cluster="local", time_limit=None,
             user_name="dm", partition="normal"),
    SlurmJob(job_id=13, name="datamonkey-8e1f4d22", state="TIMEOUT", reason="TimeLimit", exit_code=15,
             submit_time=1795421300, start_time=1795421301, end_time=1795421384, cluster="local", time_limit=1,
             user_name="dm", partition="normal"),
    SlurmJob(job_id=14, name="datamonkey-c3b6a710", state="CANCELLED", reason="None", exit_code=9,
             submit_time=1795421310, start_time=1795421312, end_time=1795421320, cluster="local", time_limit=60,
             user_name="dm", partition="normal"),
]


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_jobs(version):
    body = fixture(version, "jobs.json")
    validator(version, "jobs").validate(body)
    assert ADAPTERS[version]().parse_jobs(body) == EXPECTED_JOBS


@pytest.mark.parametrize("version", VERSIONS)
def test_parsed_jobs_mean_the_same_to_the_scheduler(version):
    failed, pending, timeout, cancelled = ADAPTERS[version]().parse_jobs(fixture(version, "jobs.json"))
    assert [phase_of(j.state) for j in (failed, pending, timeout, cancelled)] == [FINISHED, PENDING, FINISHED,
                                                                                  FINISHED]
    assert describe_exit(failed.exit_code) == "exit code 3"
    assert describe_exit(timeout.exit_code) == "killed by signal 15"
    assert describe_exit(cancelled.exit_code) == "killed by signal 9"


@pytest.mark.parametrize("version", LIST_STATE_VERSIONS)
@pytest.mark.parametrize("job_state,expected", [
    (["RUNNING"], "RUNNING"),
    (["PENDING", "REQUEUED"], "REQUEUED"),
    (["COMPLETING", "COMPLETED"], "COMPLETED"),  # the base state wherever it is in the list
    (["CANCELLED", "COMPLETING"], "CANCELLED"),
    (["PENDING", "SPECIAL_EXIT"], "SPECIAL_EXIT"),  # a held-after-failure job is final, not queued
    (["CONFIGURING"], "CONFIGURING"),  # flags alone: the first one
    (["running"], "RUNNING"),
    ("TIMEOUT", "TIMEOUT"),  # a plain string still works
    ([], ""),
    (None, ""),
])
def test_state_lists(version, job_state, expected):
    raw = {"job_id": 1, "name": "x", "job_state": job_state}
    assert ADAPTERS[version]().parse_job(raw).state == expected


@pytest.mark.parametrize("version", DATA_PARSER_VERSIONS)
@pytest.mark.parametrize("exit_code,raw", [
    (768, 768),  # v0.0.37-style int
    (no_val(768), 768),  # v0.0.39 uint32_no_val: already the raw wait status
    (no_val(0, set_=False), None),
    (no_val(0, set_=False, infinite=True), None),
    ({"status": ["SUCCESS"], "return_code": no_val(0), "signal": {"id": no_val(0, set_=False), "name": ""}}, 0),
    ({"status": ["ERROR"], "return_code": no_val(3), "signal": {"id": no_val(0, set_=False), "name": ""}}, 768),
    ({"status": ["SIGNALED"], "return_code": no_val(0, set_=False), "signal": {"id": no_val(9), "name": "KILL"}}, 9),
    ({"status": ["CORE_DUMPED"], "return_code": no_val(0, set_=False), "signal": {"id": no_val(11), "name": "SEGV"}},
     0x80 | 11),
    ({"status": ["PENDING"], "return_code": no_val(0, set_=False), "signal": {"id": no_val(0, set_=False)}}, None),
    ({"status": ["INVALID"], "return_code": no_val(0), "signal": {}}, None),
    ({"status": "ERROR", "return_code": 2, "signal": {"id": 0, "name": ""}}, 512),  # plain-int variant
    (None, None),
])
def test_exit_codes_become_raw_wait_statuses(version, exit_code, raw):
    assert ADAPTERS[version]().parse_job({"job_id": 1, "name": "x", "exit_code": exit_code}).exit_code == raw


@pytest.mark.parametrize("version", DATA_PARSER_VERSIONS)
def test_unset_and_infinite_numbers_are_none(version):
    job = ADAPTERS[version]().parse_job({
        "job_id": 1, "name": "x", "submit_time": no_val(1795421290), "start_time": no_val(0),
        "end_time": no_val(1795421999, set_=False), "time_limit": no_val(0, set_=False, infinite=True)})
    assert (job.submit_time, job.start_time, job.end_time, job.time_limit) == (1795421290, None, None, None)
    job = ADAPTERS[version]().parse_job({"job_id": 1, "name": "x", "submit_time": 1795421290, "time_limit": 30})
    assert (job.submit_time, job.time_limit) == (1795421290, 30)  # v0.0.39's plain times still read


# -- errors and ping ---------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_parse_errors(version):
    adapter = ADAPTERS[version]()
    body = fixture(version, "job_not_found.json")
    validator(version, "jobs").validate(body)
    assert adapter.parse_errors(body) == [SlurmError(code=2017, message="Invalid job id specified",
                                                     description="Unable to query JobId=999999",
                                                     source="_handle_job_get")]
    assert adapter.parse_jobs(body) == []
    assert adapter.parse_errors(None) == [] and adapter.parse_errors({"errors": "nope"}) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_ping(version):
    adapter = ADAPTERS[version]()
    body = fixture(version, "ping.json")
    validator(version, "ping").validate(body)
    assert adapter.ping_ok(body)
    up = {"hostname": "vm", "pinged": "UP", "latency": 1718, "mode": "primary"}
    assert not adapter.ping_ok({**body, "pings": [{**up, "pinged": "DOWN"}]})
    assert not adapter.ping_ok({**body, "pings": [up, {**up, "hostname": "backup", "pinged": "DOWN"}]})
    assert not adapter.ping_ok({**body, "pings": []})
    assert not adapter.ping_ok({"errors": [{"error_number": -1, "source": "slurm_load_ctl_conf"}]})
    assert not adapter.ping_ok({**body, "pings": [{**up, "responding": False}]})  # later versions' boolean wins
    assert adapter.ping_ok({"pings": [{"hostname": "vm", "ping": "UP"}]})  # the 22.05 key is tolerated


@pytest.mark.parametrize("version", LIST_STATE_VERSIONS)
@pytest.mark.parametrize("entry,up", [
    ({"hostname": "c", "pinged": "UP", "latency": 1, "mode": "primary"}, True),  # v0.0.40/41
    ({"hostname": "c", "pinged": "DOWN", "latency": 1, "mode": "primary"}, False),
    ({"hostname": "c", "pinged": "UP", "responding": True, "latency": 1, "mode": "primary", "primary": True}, True),
    ({"hostname": "c", "pinged": "UP", "responding": False, "mode": "primary", "primary": True}, False),
    ({"hostname": "c", "responding": True, "latency": 1, "primary": True, "status": "No error"}, True),  # v0.0.45
    ({"hostname": "c", "responding": False, "latency": 1, "primary": True, "status": "Unable to contact"}, False),
])
def test_ping_entries_of_every_data_parser(version, entry, up):
    assert ADAPTERS[version]().ping_ok({"pings": [entry], "errors": []}) is up


@pytest.mark.parametrize("version", DATA_PARSER_VERSIONS)
def test_paths_are_unchanged(version):
    adapter = ADAPTERS[version]()
    assert (adapter.jobs_path, adapter.submit_path, adapter.ping_path, adapter.job_path(42)) == (
        "/jobs", "/job/submit", "/ping", "/job/42")


# -- "no change" listings --------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_no_change_answer_is_an_empty_listing_with_slurms_warning(version):
    body = fixture(version, "jobs_not_modified.json")
    validator(version, "jobs").validate(body)
    adapter = ADAPTERS[version]()
    assert adapter.parse_jobs(body) == [] and adapter.parse_errors(body) == []
    assert body["warnings"][0]["description"].startswith("No job changes since update_time")
    assert adapter.parse_last_update(body) is None  # 0 there: never sent back as update_time


def test_last_update_of_a_listing():
    assert ADAPTERS["v0.0.39"]().parse_last_update(fixture("v0.0.39", "jobs.json")) is None


@pytest.mark.parametrize("version", LIST_STATE_VERSIONS)
@pytest.mark.parametrize("job_state", [["NODE_FAIL", "REQUEUED"], ["PREEMPTED", "COMPLETING", "REQUEUED"],
                                       ["BOOT_FAIL", "REQUEUED"], ["NODE_FAIL", "REQUEUE_HOLD"]])
def test_a_failure_slurm_requeues_is_not_final(version, job_state):
    job = ADAPTERS[version]().parse_job({"job_id": 1, "name": "x", "job_state": job_state})
    assert phase_of(job.state) == PENDING
