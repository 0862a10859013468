"""SlurmRestScheduler end to end against the real local cluster (`scripts/local-slurm.sh start`).

Skipped unless slurmrestd answers on 127.0.0.1:6820 with a token signed by the cluster's key file,
so CI without the cluster skips it. Jobs run as SLURM_JWT_USERNAME (`datamonkey`): the job
directories live under a world-traversable directory (pytest's own tmp dirs are 0700 for root),
and the service chowns each job directory to that user (see slurm_rest/scheduler.py).
"""

from __future__ import annotations

import json
import math
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jwt
import pytest
import requests

from service import hyphy
from tests.conftest import ADH_NEXUS, upload_id
from tests.integration.helpers import INTEGRATION, describe, fixture_id, services, start, wait_all

REST_URL = "http://127.0.0.1:6820"
KEY = Path("/var/lib/datamonkey-slurm/jwt_hs256.key")
USER = "datamonkey"
REPO = Path(__file__).resolve().parents[2]


def _cluster_answers() -> str:
    """'' when slurmrestd accepts a token signed with the key file, else why not."""
    try:
        key = KEY.read_bytes()
    except OSError as exc:
        return f"no readable Slurm JWT key at {KEY} ({exc.strerror})"
    now = int(time.time())
    token = jwt.encode({"exp": now + 300, "iat": now, "sun": USER}, key, algorithm="HS256")
    try:
        response = requests.get(f"{REST_URL}/slurm/v0.0.38/ping", timeout=5,
                                headers={"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token})
    except requests.RequestException as exc:
        return f"slurmrestd does not answer on {REST_URL} ({type(exc).__name__})"
    return "" if response.status_code == 200 else f"slurmrestd ping answered {response.status_code}"


_WHY_NOT = _cluster_answers()
pytestmark = [*INTEGRATION, pytest.mark.skipif(bool(_WHY_NOT), reason=_WHY_NOT or "cluster available")]


def cluster_env() -> dict[str, str]:
    """`scripts/local-slurm.sh env`: the settings for this cluster."""
    out = subprocess.run(["bash", str(REPO / "scripts/local-slurm.sh"), "env"], capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def work_root():
    root = Path(tempfile.mkdtemp(prefix="dm-slurm-live-", dir="/tmp"))
    root.chmod(0o755)  # `datamonkey` must reach the job directories below it
    yield root / "jobs"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory, work_root):
    from service.app import create_app

    stores = tmp_path_factory.mktemp("slurm-live")
    settings = {
        "DATASET_LOCATION": str(stores / "datasets"), "JOB_TRACKER_LOCATION": str(stores / "job-tracker"),
        "SESSION_LOCATION": str(stores / "sessions"), "JOB_WORK_LOCATION": str(work_root), "LOG_LEVEL": "WARNING",
        "HYPHY_BINARY": "auto", "SLURM_POLL_SECS": 1, **cluster_env(),
    }
    assert settings["SCHEDULER_TYPE"] == "SlurmRestScheduler"
    app = create_app(settings, validate_responses=True)
    try:
        yield app
    finally:
        services(app).scheduler.shutdown()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def test_fel_on_slurm_equals_a_direct_hyphy_run(app, client, tmp_path):
    adh = upload_id(client, ADH_NEXUS, name="adh.nex")
    job = start(client, "fel", {"alignment": adh})
    final = wait_all(client, {"fel": ("fel", job["job_id"])}, deadline_s=900)["fel"]
    assert final["status"] == "completed", describe(final)
    record = services(app).jobs.tracker.get(job["job_id"])
    assert record.scheduler == "SlurmRestScheduler"
    slurm_id, _, submit_time = record.native_id.partition("@")
    assert slurm_id.isdigit() and submit_time.isdigit(), record.native_id  # ran on Slurm, identity kept
    workdir = Path(record.workdir)
    assert (workdir / "exit_status").read_text() == "0\n"
    assert (workdir / "slurm.out").exists()  # Slurm's own output file, in the job directory
    if os.geteuid() == 0:  # the service handed the job directory to the user jobs run as
        assert workdir.stat().st_uid == pwd.getpwnam(USER).pw_uid

    alignment = tmp_path / "adh.nex"
    shutil.copy(ADH_NEXUS, alignment)
    output = tmp_path / "direct.FEL.json"
    argv = [hyphy.pick_binary(), "CPU=1", "fel", "--alignment", str(alignment), "--output", str(output)]
    run = subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"direct FEL failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr}"
    ours, theirs = final["result"]["MLE"], json.loads(output.read_text())["MLE"]
    assert ours["headers"] == theirs["headers"]
    for partition, rows in theirs["content"].items():
        assert len(ours["content"][partition]) == len(rows)
        for mine, reference in zip(ours["content"][partition], rows):
            for a, b in zip(mine, reference):
                assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (a, b)


def test_failing_job_is_an_error_with_hyphys_reason(client):
    body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.mismatch.nwk")}
    job = start(client, "fel", body)
    final = wait_all(client, {"fel": ("fel", job["job_id"])}, deadline_s=600)["fel"]
    assert final["status"] == "error", describe(final)
    assert "had no match" in final["error_message"] and "exited with code 1" in final["error_message"], describe(final)
