"""Failure paths with real HyPhy: a run HyPhy rejects, and cancelling a long run (PRIME)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import (
    INTEGRATION,
    alive,
    build_app,
    cmdline,
    describe,
    fixture_id,
    job_processes,
    kill_leftover_runners,
    result_by_id,
    runner_pid,
    start,
    wait_all,
    wait_for,
)

pytestmark = INTEGRATION


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("failures")
    app = build_app(root, LOCAL_MAX_CONCURRENT_JOBS=2)
    try:
        yield {"client": app.test_client(), "root": root}
    finally:
        kill_leftover_runners([root / "jobs"])


#: Passes every start check, then HyPhy itself refuses it (FADE needs a rooted tree) in ~0.1 s.
HYPHY_REFUSES = {"method": "fade", "alignment": "p51.protein.fasta", "tree": "p51.unrooted.nwk"}


def hyphy_refused_body(client) -> dict:
    return {"alignment": fixture_id(client, HYPHY_REFUSES["alignment"]), "tree": fixture_id(client, HYPHY_REFUSES["tree"])}


def test_a_run_hyphy_refuses_ends_in_error_with_hyphys_reason(env):
    client = env["client"]
    job = start(client, "fade", hyphy_refused_body(client))
    final = wait_all(client, {"fade": ("fade", job["job_id"])})["fade"]

    assert final["status"] == "error", describe(final)
    assert "result" not in final
    reason = final["error_message"]
    # HyPhy's own words (from its stdout `Error:` block), not a generic failure.
    assert "MUST be rooted" in reason, reason
    assert "exited with code 1" in reason, reason
    # The same outcome through GET /jobs/{id} and the job list.
    assert client.get(f"/api/v1/jobs/{job['job_id']}").json()["status"] == "error"
    errored = client.get("/api/v1/jobs", params={"status": "error"}).json()["jobs"]
    assert job["job_id"] in {j["job_id"] for j in errored}


def test_failed_request_can_be_started_again(env):
    """A failed job is not reused: the same request makes a new job (which fails the same way)."""
    client = env["client"]
    body = hyphy_refused_body(client)
    first = start(client, "fade", body)
    assert wait_all(client, {"fade": ("fade", first["job_id"])})["fade"]["status"] == "error"
    again = start(client, "fade", body)
    assert again["job_id"] != first["job_id"]
    final = wait_all(client, {"fade": ("fade", again["job_id"])})["fade"]
    assert final["status"] == "error" and "MUST be rooted" in final["error_message"]


def test_prime_can_be_cancelled_while_running(env):
    """PRIME (beta; 20+ min on adh) reaches running, then DELETE stops HyPhy and forgets the job."""
    client = env["client"]
    methods = {m["id"]: m for m in client.get("/api/v1/methods").json()["methods"]}
    assert methods["prime"]["status"] == "beta"

    body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk")}
    job = start(client, "prime", body)
    job_id = job["job_id"]
    workdir = Path(env["root"]) / "jobs" / job_id

    def running():
        status = result_by_id(client, "prime", job_id)
        assert status["status"] in ("queued", "running"), describe(status)
        return status["status"] == "running"

    wait_for(running, "PRIME to reach running", deadline_s=300, interval_s=0.5)
    pid = runner_pid(workdir)
    assert pid is not None and alive(pid), f"no live runner for a running job (pid {pid})"

    def hyphy_started():
        return [p for p in job_processes(pid) if any(arg == "prime" for arg in cmdline(p))]

    hyphy_pids = wait_for(hyphy_started, "the PRIME HyPhy process to appear", deadline_s=60, interval_s=0.2)
    members = job_processes(pid)
    assert pid in members

    response = client.delete(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 204, response.text
    # DELETE returns once the run has stopped (the runner recorded HyPhy's exit), so removing
    # the job directory cannot race with the runner writing into it.
    assert not any(alive(p) for p in members), f"still running right after DELETE: {members}"

    # Gone, not merely dead: the service reaps its runner and the runner reaps HyPhy.
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in members),
             f"processes {members} (runner {pid}, HyPhy {hyphy_pids}) to be gone after cancel",
             deadline_s=60, interval_s=0.2)
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert client.get("/api/v1/methods/prime-result", params={"job_id": job_id}).status_code == 404
    assert job_id not in {j["job_id"] for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert not workdir.exists(), f"the deleted job's directory came back: {sorted(p.name for p in workdir.iterdir())}"


def test_cancel_stops_a_running_job_and_keeps_it_with_its_logs(env):
    """POST /jobs/{id}/cancel: HyPhy stops, the job stays (error, state cancelled), logs kept."""
    client = env["client"]
    body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk"), "resample": 100}
    job_id = start(client, "fel", body)["job_id"]  # ~10 min if left alone
    workdir = Path(env["root"]) / "jobs" / job_id
    wait_for(lambda: result_by_id(client, "fel", job_id)["status"] == "running", "FEL to reach running",
             deadline_s=300, interval_s=0.5)
    pid = runner_pid(workdir)
    members = wait_for(lambda: [p for p in job_processes(pid) if "fel" in cmdline(p)] and job_processes(pid),
                       "the FEL HyPhy process to appear", deadline_s=60, interval_s=0.2)

    response = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["state"]) == ("error", "cancelled")
    wait_for(lambda: not any(alive(p) for p in members), f"processes {members} to stop after cancel",
             deadline_s=60, interval_s=0.2)
    kept = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (kept["status"], kept["state"]) == ("error", "cancelled") and "cancelled by" in kept["error_message"]
    assert (workdir / "stdout.log").stat().st_size > 0  # the logs stay
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").json() == response.json()  # idempotent
