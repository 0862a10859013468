"""slurmrestd adapters (v0.0.37, v0.0.38): submit bodies and recorded 22.05 responses → neutral types.

v0.0.39-v0.0.41 are tested in test_slurm_rest_adapters_v39plus.py; the registry tests here cover all versions.
"""

import ast
from pathlib import Path

import pytest

from service.schedulers.slurm_rest import adapters
from service.schedulers.slurm_rest.adapters import (
    ADAPTERS,
    SlurmJob,
    SubmitRequest,
    UnsupportedApiVersion,
    adapter_for_path,
)
from service.schedulers.slurm_rest.adapters.dialects import DataParserFormat, Slurm2205Format
from service.schedulers.slurm_rest.adapters.v0_0_37 import V0037Adapter
from service.schedulers.slurm_rest.adapters.v0_0_38 import V0038Adapter
from service.schedulers.slurm_rest.adapters.v0_0_39 import V0039Adapter
from service.schedulers.slurm_rest.adapters.v0_0_40 import V0040Adapter
from service.schedulers.slurm_rest.adapters.v0_0_41 import V0041Adapter

VERSIONS = ["v0.0.37", "v0.0.38"]


def meta(version):
    return {"plugin": {"type": f"openapi/{version}", "name": f"Slurm OpenAPI {version}"},
            "Slurm": {"version": {"major": 22, "micro": 8, "minor": 5}, "release": "22.05.8"}}


#: Fields of a job record as slurmrestd 22.05 returned them (reference §5: "exit 3", job 8).
RAW_FAILED = {"job_id": 8, "name": "datamonkey-abc", "job_state": "FAILED", "state_reason": "NonZeroExitCode",
              "state_description": "", "exit_code": 768, "derived_exit_code": 0, "submit_time": 1795421272,
              "start_time": 1795421272, "end_time": 1795421272, "time_limit": 5, "user_name": "dm", "user_id": 1001,
              "partition": "normal", "standard_output": "/tmp/sj/target-%j.out", "cpus_per_task": None, "cpus": 1,
              "nodes": "vm", "batch_host": "vm", "cluster": "local", "flags": ["JOB_CPUS_SET"]}
RAW_PENDING = {**RAW_FAILED, "job_id": 12, "job_state": "PENDING", "state_reason": "None", "exit_code": 0,
               "start_time": 0, "end_time": 0, "nodes": "", "batch_host": ""}


def test_registry_and_version_picking():
    assert sorted(ADAPTERS) == [f"v0.0.{n}" for n in range(37, 46)]  # 22.05 (37, 38) … 26.05 (42–45)
    assert all(ADAPTERS[version].version == version for version in ADAPTERS)
    # one 22.05 wire format and one data_parser format, shared through dialects.py, not between versions
    assert issubclass(V0037Adapter, Slurm2205Format) and issubclass(V0038Adapter, Slurm2205Format)
    assert all(issubclass(adapter, DataParserFormat) for adapter in (V0039Adapter, V0040Adapter, V0041Adapter))
    assert all(issubclass(ADAPTERS[f"v0.0.{n}"], DataParserFormat) for n in range(39, 46))
    assert not any(issubclass(ADAPTERS[a], ADAPTERS[b]) for a in ADAPTERS for b in ADAPTERS if a != b)
    assert adapter_for_path("/slurm/v0.0.38").version == "v0.0.38"
    assert adapter_for_path("/slurm/v0.0.37/").version == "v0.0.37"
    assert adapter_for_path("/slurm/v0.0.41").version == "v0.0.41"
    assert adapter_for_path("/slurm/v0.0.45").version == "v0.0.45"


def test_version_modules_import_only_base_and_dialects():
    """Retiring a version is deleting its module and its ADAPTERS entry: no version module uses another."""
    package = Path(adapters.__file__).parent
    allowed = {"service.schedulers.slurm_rest.adapters.base", "service.schedulers.slurm_rest.adapters.dialects"}
    modules = sorted(package.glob("v0_0_*.py"))
    assert len(modules) == len(ADAPTERS)
    for module in modules:
        nodes = list(ast.walk(ast.parse(module.read_text())))
        imported = {"." * node.level + (node.module or "") for node in nodes if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        ours = {name for name in imported if name.startswith("service.") or name.startswith(".")}
        assert ours <= allowed, (module.name, ours - allowed)


def test_the_slurm_back_end_imports_the_service_only_at_module_level():
    """No lazy `service.*` import inside a function anywhere under slurm_rest/: what it depends on is
    visible at the top of each module."""
    def ours(node):
        if isinstance(node, ast.ImportFrom):
            return bool(node.level) or (node.module or "").startswith("service")
        return isinstance(node, ast.Import) and any(alias.name.startswith("service") for alias in node.names)

    lazy = []
    for module in sorted(Path(adapters.__file__).parents[1].rglob("*.py")):
        for function in ast.walk(ast.parse(module.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lazy += [f"{module.name}:{node.lineno}" for node in ast.walk(function) if ours(node)]
    assert lazy == []


@pytest.mark.parametrize("path", ["/slurm/v0.0.46", "/slurm/v0.0.36", "/slurmdb/v0.0.38", "v0.0.38", ""])
def test_unsupported_version_is_a_clear_error(path):
    with pytest.raises(UnsupportedApiVersion, match="SLURM_REST_API_PATH") as caught:
        adapter_for_path(path)
    assert "v0.0.37, v0.0.38, v0.0.39, v0.0.40, v0.0.41" in str(caught.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_submit_body_is_the_22_05_shape(version):
    adapter = ADAPTERS[version]()
    body = adapter.submit_body(SubmitRequest(
        name="datamonkey-abc", partition="debug", current_working_directory="/data/jobs/abc",
        environment={"PATH": "/usr/bin:/bin"}, standard_output="/data/jobs/abc/slurm.out",
        standard_error="/data/jobs/abc/slurm.err", cpus_per_task=2, memory_per_node_mb=900, time_limit_min=60,
        script="#!/bin/bash\ntrue\n"))
    assert body == {
        "job": {"name": "datamonkey-abc", "partition": "debug", "current_working_directory": "/data/jobs/abc",
                "environment": {"PATH": "/usr/bin:/bin"}, "standard_output": "/data/jobs/abc/slurm.out",
                "standard_error": "/data/jobs/abc/slurm.err", "cpus_per_task": 2, "memory_per_node": 900,
                "time_limit": 60},
        "script": "#!/bin/bash\ntrue\n",  # top level, not inside job (500/2009 otherwise)
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_jobs(version):
    adapter = ADAPTERS[version]()
    jobs = adapter.parse_jobs({"meta": meta(version), "errors": [], "jobs": [RAW_FAILED, RAW_PENDING]})
    assert jobs == [
        SlurmJob(job_id=8, name="datamonkey-abc", state="FAILED", reason="NonZeroExitCode", exit_code=768,
                 submit_time=1795421272, start_time=1795421272, end_time=1795421272, cluster="local", time_limit=5,
                 user_name="dm", partition="normal"),
        SlurmJob(job_id=12, name="datamonkey-abc", state="PENDING", reason="None", exit_code=0,
                 submit_time=1795421272, start_time=None, end_time=None, cluster="local", time_limit=5,
                 user_name="dm", partition="normal"),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_parse_submit_ok_and_200_with_errors(version):
    adapter = ADAPTERS[version]()
    ok = adapter.parse_submit({"meta": meta(version), "errors": [], "job_id": 6, "step_id": "BATCH",
                               "job_submit_user_msg": ""})
    assert (ok.job_id, ok.errors) == (6, [])
    held = adapter.parse_submit({"meta": meta(version), "errors": [
        {"error_code": 2015, "error": "Requested partition configuration not available now"}], "job_id": 25,
        "step_id": "BATCH", "job_submit_user_msg": ""})
    assert held.job_id == 25
    assert held.errors[0].code == 2015
    assert "Requested partition configuration not available now" in str(held.errors[0])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("errors,code,source", [
    ([{"error_code": 2014, "error": "Requested node configuration is not available"}], 2014, ""),
    ([{"description": "Unable to find JobId=1", "error_number": 2017, "error": "Invalid job id specified",
       "source": "slurm_load_job"}], 2017, "slurm_load_job"),
    ([{"error": "Invalid node name specified", "errno": 2018}], 2018, ""),
])
def test_three_error_shapes(version, errors, code, source):
    parsed = ADAPTERS[version]().parse_errors({"meta": meta(version), "errors": errors})
    assert [(e.code, e.source) for e in parsed] == [(code, source)]


@pytest.mark.parametrize("version", VERSIONS)
def test_ping(version):
    adapter = ADAPTERS[version]()
    assert adapter.ping_ok({"errors": [], "pings": [{"hostname": "vm", "ping": "UP", "status": 0, "mode": "primary"}]})
    assert not adapter.ping_ok({"errors": [], "pings": [{"hostname": "vm", "ping": "DOWN", "status": -1}]})
    assert not adapter.ping_ok({"errors": [{"error_number": -1, "source": "slurm_load_ctl_conf"}]})
    assert adapter.parse_errors(None) == [] and adapter.parse_jobs({}) == []
