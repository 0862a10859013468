"""benchmarks/_common.py's SlurmRaw (the benchmarks' direct slurmrestd side) speaks the version the
service would (SLURM_REST_API_PATH=auto, the default) with that version's adapter: replayed here on
Slurm 26.05's recorded answers, so a benchmark run on any Debian Slurm compares like with like."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "tests" / "fixtures" / "slurmrestd" / "26.05" / "v0.0.45"
URL = "http://slurmrestd.test:6820"


@pytest.fixture
def slurm_raw(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    sys.modules.pop("_common", None)
    from _common import SlurmRaw

    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    return lambda api_path: SlurmRaw({"SLURM_REST_URL": URL, "SLURM_QUEUE_NAME": "debug",
                                      "SLURM_JWT_KEY_PATH": str(key), "SLURM_JWT_USERNAME": "datamonkey",
                                      "SLURM_REST_API_PATH": api_path})


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text())["response"]["body"]


def test_auto_picks_the_newest_served_version_and_uses_its_adapter(slurm_raw, requests_mock):
    requests_mock.get(f"{URL}/openapi/v3", json={"paths": {f"/slurm/v0.0.4{i}/ping": {} for i in (2, 3, 4, 5)}})
    submit = requests_mock.post(f"{URL}/slurm/v0.0.45/job/submit", json=recorded("submit_ok"))
    requests_mock.get(f"{URL}/slurm/v0.0.45/jobs", json=recorded("jobs"))
    cancel = requests_mock.delete(f"{URL}/slurm/v0.0.45/job/30", json=recorded("cancel_ok"))
    raw = slurm_raw("auto")
    assert raw.submit("bench-1", "#!/bin/bash\ntrue\n", "/tmp", cpus=1, memory_mb=100) == 30
    sent = submit.last_request.json()["job"]
    assert sent["environment"] == ["PATH=/usr/bin:/bin"] and sent["memory_per_node"]["number"] == 100
    running = [job for job in raw.jobs() if job.state == "RUNNING"]
    assert [job.job_id for job in running] == [30]
    assert raw.cancel_named(lambda name: name == running[0].name) == {"RUNNING": 1} and cancel.called


def test_a_submission_slurm_refuses_is_an_error(slurm_raw, requests_mock):
    requests_mock.post(f"{URL}/slurm/v0.0.45/job/submit", json=recorded("submit_refused_cpus"))
    with pytest.raises(RuntimeError, match="raw submit failed"):
        slurm_raw("/slurm/v0.0.45").submit("bench-1", "#!/bin/bash\ntrue\n", "/tmp", cpus=9999)
