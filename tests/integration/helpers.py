"""Shared pieces of the integration tests: real HyPhy, real LocalScheduler, real processes.

Everything here waits with generous deadlines only (the machine is shared); a deadline that
passes fails the test with the job's last known state, never because something was "slow".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable

import pytest

from service import hyphy
from service.app import create_app
from service.config import Settings
from service.jobdir import PID_FILE
from tests.conftest import FIXTURES, store_settings, upload_id

HYPHY_GENERIC = Path("/usr/lib/hyphy/bin/hyphy")

#: Every integration module starts with `pytestmark = INTEGRATION`.
INTEGRATION = [
    pytest.mark.integration,
    pytest.mark.skipif(not HYPHY_GENERIC.exists(), reason=f"HyPhy is not installed ({HYPHY_GENERIC} missing)"),
]

FINAL = ("completed", "error")
#: Deadline for one batch of jobs to finish. Far above the expected run times (seconds to
#: ~2 minutes per job on 2 cores): only a hung or lost job should ever reach it.
BATCH_DEADLINE_S = 1800.0
POLL_INTERVAL_S = 2.0


def settings_for(root: Path, **extra: Any) -> dict[str, Any]:
    """Settings with every store under `root` (a restarted app reuses the same root)."""
    return {
        **store_settings(root),
        "SCHEDULER_TYPE": "LocalScheduler",
        "HYPHY_BINARY": "auto",
        "LOCAL_MAX_CONCURRENT_JOBS": 2,
        **extra,
    }


def build_app(root: Path, scheduler=None, **extra: Any):
    """An app on the stores under `root` (jobs on `scheduler`, else the configured one);
    responses are validated against openapi.yaml."""
    return create_app(Settings.from_environ(settings_for(root, **extra)), scheduler=scheduler, validate_responses=True)


def services(app):
    return app.app.extensions["datamonkey"]


def fixture_id(client, name: str, token: str | None = None) -> str:
    """Upload tests/fixtures/<name> (or an absolute path) and return its dataset id."""
    path = Path(name) if Path(name).is_absolute() else FIXTURES / name
    return upload_id(client, path, token=token, name=path.name)


def start(client, method: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"user_token": token} if token else {}
    response = client.post(f"/api/v1/methods/{method}-start", json=body, headers=headers)
    assert response.status_code == 200, f"{method}-start refused: {response.status_code} {response.text}"
    job = response.json()
    assert job["status"] in ("queued", "running"), job
    return job


def result_by_id(client, method: str, job_id: str, token: str | None = None) -> dict[str, Any]:
    headers = {"user_token": token} if token else {}
    response = client.get(f"/api/v1/methods/{method}-result", params={"job_id": job_id}, headers=headers)
    assert response.status_code == 200, f"{method}-result?job_id={job_id}: {response.status_code} {response.text}"
    return response.json()


def wait_for(poll, description: str, deadline_s: float = BATCH_DEADLINE_S, interval_s: float = POLL_INTERVAL_S):
    """Call `poll()` until it returns something truthy; fail clearly at the deadline."""
    deadline = time.monotonic() + deadline_s
    last = None
    while True:
        last = poll()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {deadline_s:.0f} s waiting for {description}")
        time.sleep(interval_s)


def wait_all(client, jobs: dict[str, tuple[str, str]], token: str | None = None,
             deadline_s: float = BATCH_DEADLINE_S) -> dict[str, dict[str, Any]]:
    """Poll `{label: (method, job_id)}` together until every job is final; label → final body."""
    done: dict[str, dict[str, Any]] = {}
    last: dict[str, str] = {}
    deadline = time.monotonic() + deadline_s
    while len(done) < len(jobs):
        for label, (method, job_id) in jobs.items():
            if label in done:
                continue
            body = result_by_id(client, method, job_id, token)
            last[label] = body["status"]
            if body["status"] in FINAL:
                done[label] = body
        if len(done) < len(jobs):
            if time.monotonic() > deadline:
                pending = {k: v for k, v in last.items() if k not in done}
                pytest.fail(f"jobs not final after {deadline_s:.0f} s: {pending}")
            time.sleep(POLL_INTERVAL_S)
    return done


def describe(body: dict[str, Any]) -> str:
    """A job body without the (large) result, for assertion messages."""
    return json.dumps({k: v for k, v in body.items() if k != "result"}, indent=1)


# -- processes ---------------------------------------------------------------------------------
def runner_pid(workdir: Path) -> int | None:
    try:
        return int((workdir / PID_FILE).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited, unreaped process has done its work)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def job_processes(runner: int) -> list[int]:
    """The live runner and every live process under it: HyPhy runs in a session of its own (its
    stderr is a pseudo-terminal, service/hyphy.py), so a process group would not find it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] not in ("Z", "X"):
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [runner] if alive(runner) else []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def kill_leftover_runners(work_roots: Iterable[Path]) -> None:
    """Teardown safety net: SIGKILL the process group of any job runner a test left alive."""
    for root in work_roots:
        if not root.exists():
            continue
        for workdir in root.iterdir():
            pid = runner_pid(workdir)
            # Only that job's runner (pids are reused): its command line names the job directory.
            if pid is None or not alive(pid) or str(workdir) not in cmdline(pid):
                continue
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def assert_same_as_direct_fel(result: dict[str, Any], alignment: Path, tmp_path: Path, node: str = "") -> None:
    """FEL's site table in `result` equals a bare `hyphy fel` run on a copy of `alignment`: on this
    host, or in the docker container `node` (a compose stack's compute node: the HyPhy that ran the job)."""
    copy = tmp_path / alignment.name
    shutil.copy(alignment, copy)
    output = tmp_path / "direct.FEL.json"
    if node:
        inside = "/tmp/direct-fel"
        subprocess.run(["docker", "exec", node, "mkdir", "-p", inside], check=True)
        subprocess.run(["docker", "cp", str(copy), f"{node}:{inside}/{copy.name}"], check=True)
        argv = ["docker", "exec", "-w", inside, node, hyphy.pick_binary(), "CPU=1", "fel",
                "--alignment", f"{inside}/{copy.name}", "--output", f"{inside}/{output.name}"]
    else:
        argv = [hyphy.pick_binary(), "CPU=1", "fel", "--alignment", str(copy), "--output", str(output)]
    run = subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"direct FEL failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr}"
    if node:
        subprocess.run(["docker", "cp", f"{node}:/tmp/direct-fel/{output.name}", str(output)], check=True)
    ours, theirs = result["MLE"], json.loads(output.read_text())["MLE"]
    assert ours["headers"] == theirs["headers"]
    for partition, rows in theirs["content"].items():
        assert len(ours["content"][partition]) == len(rows)
        for mine, reference in zip(ours["content"][partition], rows):
            for a, b in zip(mine, reference):
                assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (a, b)
