"""Service restart with the LocalScheduler: a new app on the same directories picks up the jobs.

One scenario, several checks. The first app ("before the restart") starts three jobs with two
run slots: FEL (left running), MEME (its runner is SIGKILLed while the service is "down") and
FUBAR (still queued). A job runner lives in its own session, so it outlives the service. The
second app ("after the restart") must re-attach FEL and see it complete, start the queued
FUBAR, and report MEME as an error with a reason, never as running forever.
"""

from __future__ import annotations

import os
import signal

import pytest

from service.jobdir import EXIT_STATUS, PID_FILE
from tests.integration.helpers import (
    INTEGRATION,
    alive,
    build_app,
    describe,
    fixture_id,
    job_processes,
    kill_leftover_runners,
    result_by_id,
    services,
    start,
    wait_all,
    wait_for,
)

pytestmark = INTEGRATION


def stop_service(app) -> None:
    """Simulate the service process going away without killing its runners (they are in their
    own sessions): this in-process scheduler must start nothing more, as a dead process would."""
    scheduler = services(app).scheduler
    with scheduler._lock:
        scheduler._queue.clear()
    scheduler._dispatch = lambda: None


@pytest.fixture(scope="module")
def restart(tmp_path_factory):
    root = tmp_path_factory.mktemp("restart")
    before = build_app(root, LOCAL_MAX_CONCURRENT_JOBS=2)
    client = before.test_client()
    try:
        body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk")}
        fel = start(client, "fel", body)["job_id"]
        meme = start(client, "meme", body)["job_id"]
        fubar = start(client, "fubar", body)["job_id"]
        jobs = {"fel": fel, "meme": meme, "fubar": fubar}
        workdirs = {name: root / "jobs" / job_id for name, job_id in jobs.items()}

        def both_running():
            return all(result_by_id(client, m, jobs[m])["status"] == "running" for m in ("fel", "meme"))

        wait_for(both_running, "FEL and MEME to be running", deadline_s=300, interval_s=0.5)
        queued_before = result_by_id(client, "fubar", fubar)
        assert queued_before["status"] == "queued", describe(queued_before)

        stop_service(before)
        # While the service is down, MEME's runner and HyPhy are killed outright.
        meme_runner = int((workdirs["meme"] / PID_FILE).read_text().split()[0])
        meme_processes = job_processes(meme_runner)  # runner, script, HyPhy
        os.killpg(meme_runner, signal.SIGKILL)
        wait_for(lambda: not any(alive(p) for p in meme_processes), "MEME's processes to die", deadline_s=60, interval_s=0.2)
        fel_pid_file = (workdirs["fel"] / PID_FILE).read_text()
        fel_runner = int(fel_pid_file.split()[0])
        assert alive(fel_runner) and not (workdirs["fel"] / EXIT_STATUS).exists(), (
            "FEL finished before the restart; the re-attach path was not exercised")

        after = build_app(root, LOCAL_MAX_CONCURRENT_JOBS=2)
        new_client = after.test_client()
        first_look = {name: result_by_id(new_client, name, job_id) for name, job_id in jobs.items()}
        final = wait_all(new_client, {name: (name, job_id) for name, job_id in jobs.items()})
        yield {
            "jobs": jobs, "workdirs": workdirs, "first_look": first_look, "final": final,
            "fel_pid_file": fel_pid_file, "client": new_client,
        }
    finally:
        kill_leftover_runners([root / "jobs"])


def test_running_job_is_reattached_and_completes(restart):
    first = restart["first_look"]["fel"]
    assert first["status"] == "running", describe(first)
    final = restart["final"]["fel"]
    assert final["status"] == "completed", describe(final)
    assert len(final["result"]["MLE"]["content"]["0"]) == 254
    # Re-attached, not re-run: the runner that the first app started is the one that finished.
    assert (restart["workdirs"]["fel"] / PID_FILE).read_text() == restart["fel_pid_file"]


def test_queued_job_is_started_after_restart(restart):
    assert restart["first_look"]["fubar"]["status"] in ("queued", "running"), describe(restart["first_look"]["fubar"])
    final = restart["final"]["fubar"]
    assert final["status"] == "completed", describe(final)
    assert "MLE" in final["result"] and "posterior" in final["result"]


def test_job_killed_while_service_was_down_ends_in_error(restart):
    first = restart["first_look"]["meme"]
    assert first["status"] == "error", describe(first)
    assert "ended without recording an exit status" in first["error_message"], first["error_message"]
    assert not (restart["workdirs"]["meme"] / EXIT_STATUS).exists()
    # And it stays so: the job list and a later read agree, no `running` resurrection.
    client = restart["client"]
    assert client.get(f"/api/v1/jobs/{restart['jobs']['meme']}").json()["status"] == "error"
    listed = {j["job_id"]: j["status"] for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert listed[restart["jobs"]["meme"]] == "error"
