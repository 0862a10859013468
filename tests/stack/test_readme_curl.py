"""The README's curl example, run verbatim with bash against a running stack.

Skipped unless DATAMONKEY_STACK_URL names the stack's API (e.g. http://127.0.0.1:9300/api/v1):
`make test-stack` sets it. CI runs it against `make dev` (the local Slurm cluster) and against
`make start` (the compose stack, two compute nodes); DATAMONKEY_STACK_SCHEDULER, when set, is the
SCHEDULER_TYPE /health must report. FEL's result must equal a bare HyPhy run on this host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import ADH_NEXUS
from tests.integration.helpers import assert_same_as_direct_fel

STACK_URL = os.environ.get("DATAMONKEY_STACK_URL", "").rstrip("/")
README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.skipif(not STACK_URL, reason="DATAMONKEY_STACK_URL is not set (make test-stack sets it)")


def readme_curl_block() -> str:
    """The first ```sh block of the README's "Using it with curl" section."""
    section = README.read_text().split("## Using it with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "README has no sh block under 'Using it with curl'"
    return match.group(1)


def test_readme_curl_example_runs_fel_and_returns_the_real_result(tmp_path):
    health = requests.get(f"{STACK_URL}/health", timeout=30)
    assert health.status_code == 200, health.text
    expected_scheduler = os.environ.get("DATAMONKEY_STACK_SCHEDULER")
    if expected_scheduler:
        assert health.json()["scheduler"] == expected_scheduler, health.text

    block = readme_curl_block()
    assert str(ADH_NEXUS) in block  # the direct run below uses the same file
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env={**os.environ, "API": STACK_URL},
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"the README block failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("completed ['MLE', "), run.stdout
    started = json.loads(next(line for line in lines if line.startswith("{")))

    response = requests.get(f"{STACK_URL}/methods/fel-result", params={"job_id": started["job_id"]}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert_same_as_direct_fel(response.json()["result"], ADH_NEXUS, tmp_path)
