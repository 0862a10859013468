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


def readme_curl_blocks() -> list[str]:
    """The ```sh blocks of the README's "Using it with curl" section: the FEL example, then the
    jobs walk-through (watch, logs, cancel, retry, report, annotations, metrics)."""
    section = README.read_text().split("## Using it with curl", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "README should have two sh blocks under 'Using it with curl'"
    return blocks


def run_blocks(*blocks: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run as a user would paste them, in `cwd` (the walk-through saves fel-report.html there)."""
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], env={**os.environ, "API": STACK_URL},
                         cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"the README block failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"
    return run


def test_readme_curl_example_runs_fel_and_returns_the_real_result(tmp_path):
    health = requests.get(f"{STACK_URL}/health", timeout=30)
    assert health.status_code == 200, health.text
    expected_scheduler = os.environ.get("DATAMONKEY_STACK_SCHEDULER")
    if expected_scheduler:
        assert health.json()["scheduler"] == expected_scheduler, health.text

    block = readme_curl_blocks()[0]
    assert str(ADH_NEXUS) in block  # the direct run below uses the same file
    run = run_blocks(block, cwd=tmp_path)
    lines = run.stdout.strip().splitlines()
    assert lines[-1].startswith("completed ['MLE', "), run.stdout
    started = json.loads(next(line for line in lines if line.startswith("{")))

    response = requests.get(f"{STACK_URL}/methods/fel-result", params={"job_id": started["job_id"]}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert_same_as_direct_fel(response.json()["result"], ADH_NEXUS, tmp_path)


def test_readme_jobs_walkthrough_watches_stops_retries_and_reports(tmp_path):
    """The second block, after the first (it uses its upload): every step prints what it shows."""
    run = run_blocks(*readme_curl_blocks(), cwd=tmp_path)
    out = run.stdout
    watched = [line for line in out.splitlines() if line.startswith("running |")]
    assert watched and re.search(r"\| Working on site pattern \d+/\d+ in partition 1 0\.\d+$", watched[-1]), out
    assert "event: log\ndata: " in out and "event: progress\ndata: {" in out, out
    assert re.search(r"^cancelled \| cancelled by ", out, re.MULTILINE), out
    completed = re.search(r"^completed 2 \['([0-9a-f]{32})'\] 2048$", out, re.MULTILINE)
    assert completed, out
    sites = re.search(r'^data-sites="(\d+)"$', out, re.MULTILINE)
    assert sites and int(sites.group(1)) > 0, out
    assert "{'labels': {'gene': 'adh'}, 'notes': 'rerun'}" in out, out
    assert "<svg" in (tmp_path / "fel-report.html").read_text()
    assert re.search(r'^datamonkey_jobs\{method="fel",state="cancelled"\} [1-9]', out, re.MULTILINE), out
