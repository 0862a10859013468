"""The README's curl example, run verbatim with bash against a running stack.

Skipped unless DATAMONKEY_STACK_URL names the stack's API (e.g. http://127.0.0.1:9300/api/v1):
`make test-stack` sets it. CI runs it against `make dev` (the local Slurm cluster) and against
`make start` (the compose stack, two compute nodes); DATAMONKEY_STACK_SCHEDULER, when set, is the
SCHEDULER_TYPE /health must report. FEL's result must equal a bare HyPhy run on this host, or with
DATAMONKEY_STACK_NODE (a compose stack's compute-node container) on that node, whose HyPhy ran the job;
there /health must also name the node's Slurm release and GET /methods offer what the node's HyPhy offers.
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
NODE = os.environ.get("DATAMONKEY_STACK_NODE", "")
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
    assert_same_as_direct_fel(response.json()["result"], ADH_NEXUS, tmp_path, node=NODE)


def on_node(*argv: str) -> str:
    return subprocess.run(["docker", "exec", NODE, *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=True, timeout=60).stdout


@pytest.mark.skipif(not NODE, reason="DATAMONKEY_STACK_NODE is not set (a compose stack's compute node)")
def test_health_names_the_nodes_slurm_release_and_an_api_version_it_serves():
    backend = requests.get(f"{STACK_URL}/health", timeout=30).json()["backend"]
    release = re.search(r"\d+\.\d+\.\d+", on_node("slurmd", "-V")).group(0)
    assert backend["slurm_release"] == release, backend
    assert re.fullmatch(r"v\d+\.\d+\.\d+", backend["slurm_api_version"]), backend


@pytest.mark.skipif(not NODE, reason="DATAMONKEY_STACK_NODE is not set (a compose stack's compute node)")
def test_methods_offer_what_the_nodes_hyphy_offers():
    listed = requests.get(f"{STACK_URL}/methods", timeout=30).json()
    version = re.search(r"HYPHY (\d+\.\d+\.\d+)", on_node("/usr/lib/hyphy/bin/hyphy", "--version")).group(1)
    assert listed["hyphy"]["version"] == version, listed["hyphy"]
    assert listed["hyphy"]["source"] == "published by the compute nodes", listed["hyphy"]
    fel_help = on_node("/usr/lib/hyphy/bin/hyphy", "fel", "--help")
    fel = next(m for m in listed["methods"] if m["id"] == "fel")
    multiple_hits = next(p for p in fel["parameters"] if p["name"] == "multiple_hits")
    assert multiple_hits["available"] == bool(re.search(r"^multiple-hits\b", fel_help, re.MULTILINE)), multiple_hits


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
