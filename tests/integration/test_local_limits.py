"""Real HyPhy past its time limit on the LocalScheduler: HyPhy is killed (it runs in a session of
its own, under `script`) and the job ends `error` saying why (issue 12.2)."""

from __future__ import annotations

import os
from pathlib import Path

from service.methods import METHODS
from service.schedulers.local import LocalScheduler
from tests.integration.helpers import (
    INTEGRATION,
    alive,
    build_app,
    cmdline,
    describe,
    fixture_id,
    kill_leftover_runners,
    services,
    start,
    wait_all,
    wait_for,
)

pytestmark = INTEGRATION


def processes_in(workdir: Path) -> list[int]:
    """Live processes whose command line names the job directory (the runner, HyPhy)."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and alive(int(p))
            and any(str(workdir) in word for word in cmdline(int(p)))]


def test_fel_past_its_time_limit_is_killed_and_ends_error_saying_so(tmp_path):
    app = build_app(tmp_path, scheduler=LocalScheduler(1, minute_s=0.0))  # every time limit is over at once
    client = app.test_client()
    try:
        body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk")}
        job_id = start(client, "fel", body)["job_id"]
        final = wait_all(client, {"fel": ("fel", job_id)})["fel"]
        workdir = Path(services(app).jobs.tracker.get(job_id).workdir)
        wait_for(lambda: not processes_in(workdir), f"no process left in {workdir}")
    finally:
        kill_leftover_runners([tmp_path / "jobs"])
    assert final["status"] == "error", describe(final)
    assert final["error_message"] == f"exceeded its time limit of {METHODS['fel'].resources.time_limit_min} min"
