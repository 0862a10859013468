"""The real service as a process the crash tests can SIGKILL: `python -m service` (uvicorn) on
loopback, stores under a directory the test owns, restarted on the same stores.

Also: tiny distinct codon alignments (HyPhy runs of ~3 s) and a HyPhy wrapper that logs every
launch, so a test can count how often each job's HyPhy was started (the scheduler's own view).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from service import hyphy
from tests.conftest import FIXTURES
from tests.integration.helpers import FINAL, settings_for, wait_for

REPO = Path(__file__).resolve().parents[2]
#: Tiny jobs: 30 codons of the six adh sequences, its tree embedded as the last FASTA line.
CODONS = 30
ADH_TREE = "(MEL,MA,(ERE,((SIL,DIF),AFF)));"
#: Errors a request in flight gets when the server process is killed under it.
CUT_OFF = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """One `python -m service`; `start()` again after `kill9()` restarts it on the same stores."""

    def __init__(self, root: Path, settings: dict[str, Any], name: str = "server"):
        self.root = Path(root)
        self.settings = settings
        self.name = name
        self.process: subprocess.Popen | None = None
        self.base = ""
        self.starts = 0
        self.logs: list[Path] = []

    def start(self, deadline_s: float = 120) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "HYPHY_PATH"}
        env.update({k: str(v) for k, v in self.settings.items()})
        env.update({"SERVICE_DATAMONKEY_PORT": str(port), "SERVICE_HOST": "127.0.0.1", "SESSION_MODE": "anonymous"})
        self.starts += 1
        log_path = self.root / f"{self.name}.{self.starts}.log"
        self.logs.append(log_path)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO, env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}/api/v1"

        def answers():
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                requests.get(f"{self.base}/health", timeout=5)  # any status: it serves requests
                return True
            except requests.RequestException:
                return False

        wait_for(answers, f"the server on port {port} to answer", deadline_s=deadline_s, interval_s=0.2)
        return self.base

    def kill9(self) -> None:
        """SIGKILL, by pid, the way an OOM killer or a power cut ends the service."""
        assert self.process is not None and self.process.poll() is None, "the server is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)

    def log_tail(self, chars: int = 3000) -> str:
        return self.logs[-1].read_text(errors="replace")[-chars:] if self.logs else ""

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=60, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(f"{self.base}{path}", timeout=60, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return requests.delete(f"{self.base}{path}", timeout=60, **kwargs)

    def upload(self, content: bytes, name: str) -> requests.Response:
        meta = {"name": name, "type": "alignment", "description": "crash test"}
        return self.post("/datasets", files={"file": (name, content)}, data={"meta": json.dumps(meta)})


def local_settings(root: Path, **extra: Any) -> dict[str, Any]:
    return settings_for(root, LOG_LEVEL="INFO", **extra)


# -- data ------------------------------------------------------------------------------------------
def tiny_alignments(count: int) -> list[bytes]:
    """`count` distinct codon alignments: MEL's codon i replaced (no stop codons), tree embedded."""
    lines = (FIXTURES / "adh.fasta").read_text().split()
    records = [(lines[i], lines[i + 1][: CODONS * 3]) for i in range(0, len(lines), 2)]
    assert count <= CODONS
    variants = []
    for i in range(count):
        name, seq = records[0]
        codon = "CCC" if seq[3 * i: 3 * i + 3] != "CCC" else "GGG"
        mutated = [(name, seq[: 3 * i] + codon + seq[3 * i + 3:]), *records[1:]]
        text = "".join(f"{n}\n{s}\n" for n, s in mutated) + ADH_TREE + "\n"
        variants.append(text.encode())
    assert len(set(variants)) == count
    return variants


# -- counting HyPhy launches ---------------------------------------------------------------------
def launch_logging_hyphy(directory: Path, delay_s: float = 0) -> tuple[Path, Path]:
    """A HYPHY_BINARY that appends `<job directory> <pid>` to a log, then (after `delay_s`) execs
    the real HyPhy. Returns (wrapper, log). Both are usable by another unix user (Slurm jobs run as one)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "hyphy-launches.log"
    log.touch()
    log.chmod(0o666)
    wrapper = directory / "hyphy-counting"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s %s\\n' \"$PWD\" \"$$\" >> '{log}'\n"
                       + (f"sleep {delay_s}\n" if delay_s else "")
                       + f"exec '{hyphy.pick_binary()}' \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper, log


def launches_per_job(log: Path, jobs_root: Path) -> Counter:
    """job id → how many times HyPhy was started in its directory under `jobs_root` (the service's
    own `--version`/`--help` probes of HyPhy's capabilities run elsewhere and do not count)."""
    directories = (Path(line.split()[0]) for line in log.read_text().splitlines() if line.strip())
    return Counter(d.name for d in directories if d.parent == jobs_root)


# -- concurrent requests -------------------------------------------------------------------------
@dataclass
class Outcome:
    index: int
    status: int | None = None  # None: no response (cut off by the kill)
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def fire_and_kill(server: ServiceProcess, path: str, bodies: list[dict[str, Any]], kill_after: int) -> list[Outcome]:
    """POST every body at once (one thread each); SIGKILL the server as soon as `kill_after`
    responses have arrived (0: as soon as every request is sent). Returns one Outcome per body."""
    outcomes = [Outcome(i) for i in range(len(bodies))]
    barrier = threading.Barrier(len(bodies) + 1)
    answered = threading.Semaphore(0)
    url = f"{server.base}{path}"

    def send(outcome: Outcome, body: dict[str, Any]) -> None:
        session = requests.Session()
        try:
            barrier.wait()
            response = session.post(url, json=body, timeout=60)
            outcome.status = response.status_code
            try:
                outcome.body = response.json()
            except ValueError:
                outcome.body = {"text": response.text[:300]}
            answered.release()
        except CUT_OFF as exc:
            outcome.error = type(exc).__name__
        finally:
            session.close()

    threads = [threading.Thread(target=send, args=(o, b), daemon=True) for o, b in zip(outcomes, bodies)]
    for thread in threads:
        thread.start()
    barrier.wait()
    for _ in range(kill_after):
        if not answered.acquire(timeout=60):
            break
    server.kill9()
    for thread in threads:
        thread.join(timeout=90)
    return outcomes


def wait_final(get_status: Callable[[str], dict[str, Any]], job_ids: list[str], deadline_s: float = 600) -> dict[str, dict]:
    """Poll `get_status(job_id)` until every job is final; job id → final body."""
    done: dict[str, dict] = {}
    last: dict[str, str] = {}
    deadline = time.monotonic() + deadline_s
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                body = get_status(job_id)
                last[job_id] = body.get("status", "?")
                if body.get("status") in FINAL:
                    done[job_id] = body
        if len(done) < len(job_ids):
            if time.monotonic() > deadline:
                pytest.fail(f"jobs not final after {deadline_s:.0f} s: "
                            f"{ {k: v for k, v in last.items() if k not in done} }")
            time.sleep(1)
    return done


def tracker_records(tracker_root: Path) -> list[dict[str, Any]]:
    """Every job record in the tracker, read from its files (not through the service)."""
    return [json.loads(p.read_text()) for p in sorted((tracker_root / "records").glob("*/*.json"))]
