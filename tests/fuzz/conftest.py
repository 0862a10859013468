"""Fixtures for the schema fuzzing run: one live app on temporary stores, seeded with real objects.

The app is the real one (`service.app.create_app`) on the LocalScheduler; HYPHY_BINARY is a
stand-in script that writes a tiny result JSON and exits 0 at once, so fuzz cases that start a
job never run HyPhy, and at most one job runs at a time (LOCAL_MAX_CONCURRENT_JOBS=1).

`FUZZ` counts the cases and operations exercised; the closing `FUZZ: <n> cases, <m> operations`
line is written to the terminal report whether or not pytest runs with `-s`.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from service.app import create_app
from service.config import Settings
from tests.conftest import FIXTURES, store_settings

#: A stand-in for HyPhy: writes a result where `--output` would put it (the job's directory).
FAKE_HYPHY = """#!/bin/sh
printf '{"fuzz": {"argv": "%s"}}\\n' "$*" > result.json
exit 0
"""


@dataclass
class FuzzStats:
    cases: int = 0
    operations: set[str] = field(default_factory=set)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    started: float | None = None
    finished: float | None = None

    def record(self, operation: str, status: int) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.cases += 1
        self.operations.add(operation)
        self.statuses[status] += 1
        self.finished = time.monotonic()


FUZZ = FuzzStats()


@dataclass
class Seeds:
    """Ids of objects that exist, so generated requests reach more than 404s."""

    datasets: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)


SEEDS = Seeds()


@pytest.fixture(scope="session")
def fuzz_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    hyphy = root / "fake-hyphy"
    hyphy.write_text(FAKE_HYPHY)
    hyphy.chmod(0o755)
    app = create_app(Settings.from_environ({**store_settings(root), "HYPHY_BINARY": str(hyphy),
                                            "LOCAL_MAX_CONCURRENT_JOBS": "1", "DATASET_MAX_BYTES": str(256 * 1024)}))
    yield app
    app.app.extensions["datamonkey"].scheduler.shutdown()


def _upload(client, path: Path) -> str:
    response = client.post("/api/v1/datasets", files={"file": (path.name, path.read_bytes())},
                           data={"meta": json.dumps({"name": path.stem, "type": "fuzz seed", "description": ""})})
    assert response.status_code == 201, response.text
    return response.json()["datasets"][0]["id"]


@pytest.fixture(autouse=True)
def seeded(fuzz_app):
    """Before each operation's cases: an alignment, a tree and a job of the anonymous user exist.

    Uploads are content-addressed and a start request identical to an earlier one returns the
    same job, so this restores whatever a previous operation's DELETE cases removed.
    """
    client = fuzz_app.test_client()
    alignment = _upload(client, FIXTURES / "adh.fasta")
    tree = _upload(client, FIXTURES / "adh.nwk")
    job = client.post("/api/v1/methods/fel-start", json={"alignment": alignment, "tree": tree})
    assert job.status_code == 200, job.text
    SEEDS.datasets[:] = [alignment, tree]
    SEEDS.jobs[:] = [job.json()["job_id"]]
    yield SEEDS


def pytest_terminal_summary(terminalreporter):
    if not FUZZ.cases:
        return
    seconds = (FUZZ.finished or 0) - (FUZZ.started or 0)
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(FUZZ.statuses.items()))
    terminalreporter.write_line(
        f"FUZZ: {FUZZ.cases} cases, {len(FUZZ.operations)} operations in {seconds:.0f} s (statuses {statuses})")
