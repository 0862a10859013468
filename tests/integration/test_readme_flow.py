"""The README flow against the real server: `python -m service` (uvicorn) in a subprocess,
driven with `requests`, the way a user's script would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ADH_NEXUS
from tests.integration.helpers import FINAL, INTEGRATION, kill_leftover_runners, settings_for, wait_for

pytestmark = INTEGRATION
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HYPHY_PATH"}
    env.update({k: str(v) for k, v in settings_for(tmp_path, LOCAL_MAX_CONCURRENT_JOBS=1, LOG_LEVEL="INFO").items()})
    env.update({"SERVICE_DATAMONKEY_PORT": str(port), "SERVICE_HOST": "127.0.0.1", "SESSION_MODE": "anonymous"})
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
        try:
            return requests.get(f"{base}/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(healthy, f"the server on port {port} to answer /health", deadline_s=120, interval_s=0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        log.close()
        kill_leftover_runners([tmp_path / "jobs"])


def test_readme_flow_upload_start_poll(server):
    health = requests.get(f"{server}/health", timeout=10).json()
    assert health["status"] == "healthy" and health["scheduler"] == "LocalScheduler", health

    with open(ADH_NEXUS, "rb") as handle:
        response = requests.post(
            f"{server}/datasets", timeout=60,
            files={"file": (ADH_NEXUS.name, handle)},
            data={"meta": json.dumps({"name": "adh", "type": "nexus", "description": "Drosophila adh"})},
        )
    assert response.status_code == 201, response.text
    dataset = response.json()["datasets"][0]
    assert dataset["format"] == "nexus" and dataset["size"] == ADH_NEXUS.stat().st_size

    body = {"alignment": dataset["id"]}  # the NEXUS embeds its tree
    response = requests.post(f"{server}/methods/fel-start", json=body, timeout=60)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]

    def finished():
        reply = requests.post(f"{server}/methods/fel-result", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json() if reply.json()["status"] in FINAL else None

    final = wait_for(finished, "the README's FEL job to finish")
    assert final["status"] == "completed", {k: v for k, v in final.items() if k != "result"}
    assert final["job_id"] == job_id
    mle = final["result"]["MLE"]
    assert mle["headers"][0][0] == "alpha"
    assert len(mle["content"]["0"]) == 254

    listed = requests.get(f"{server}/jobs", timeout=30).json()["jobs"]
    assert [(j["job_id"], j["status"]) for j in listed] == [(job_id, "completed")]
