"""kill -9 of the real service while 20 concurrent `*-start` requests are in flight, then a restart
on the same stores. The contract a client can rely on:

- a start that was answered 2xx is tracked (GET /jobs/{id} 200) and completes: nothing
  acknowledged is lost;
- a start cut off by the kill may or may not have made a job; if it did, that job reaches a final
  state (completed, or error with a reason), never `queued`/`running` forever;
- nothing runs twice: per job id at most one HyPhy launch (counted by a HYPHY_BINARY wrapper, or
  in Slurm's own job list), and no two job records for one request body;
- a client that retries afterwards gets every acknowledged job back (same id, no new run), and a
  cut-off start it retries completes;
- a job the scheduler took is never reported as failed while it runs on unseen, and a runner
  started just before the kill is not started again.

LocalScheduler: two rounds on the same stores (FEL killed right after the first answer, then SLAC
killed after eight; the second kill also lands on round one's queued and running jobs).
SlurmRestScheduler (skipped unless the local cluster answers): one round, duplicates checked in
Slurm's job list by the `datamonkey-<job id>` names.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service.jobdir import COMMAND_FILE, PID_FILE
from tests.conftest import store_settings
from tests.crash.server import (
    REPO,
    Outcome,
    ServiceProcess,
    fire_and_kill,
    launch_logging_hyphy,
    launches_per_job,
    local_settings,
    tiny_alignments,
    tracker_records,
    wait_final,
)
from tests.integration.helpers import INTEGRATION, kill_leftover_runners, wait_for
from tests.integration.slurm_helpers import WHY_NOT, cluster_answers, cluster_env, new_work_root, slurm_jobs

pytestmark = INTEGRATION
CONCURRENT = 20


def job_of(server: ServiceProcess, method: str, body: dict[str, Any], outcome: Outcome) -> str | None:
    """The job a start made: from its 2xx answer, else asked by body (POST *-result; 404 = none)."""
    if outcome.acknowledged:
        return outcome.body["job_id"]
    response = server.post(f"/methods/{method}-result", json=body)
    assert response.status_code in (200, 404), f"{method}-result: {response.status_code} {response.text[:300]}"
    return response.json()["job_id"] if response.status_code == 200 else None


def start_retrying(server: ServiceProcess, method: str, body: dict[str, Any], deadline_s: float = 180) -> str:
    """A client's retry: POST *-start until it is answered 200, honouring 503 + Retry-After."""
    deadline = time.monotonic() + deadline_s
    while True:
        response = server.post(f"/methods/{method}-start", json=body)
        if response.status_code != 503 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()["job_id"]
        time.sleep(min(5, int(response.headers.get("Retry-After", 5))))


def scenario(server: ServiceProcess, rounds: list[tuple[str, int]], tracker_root: Path,
             launches: Any, ready: Any = lambda: None) -> dict[str, Any]:
    """Upload, fire every round (each ending in a SIGKILL and a restart), then check and retry.

    `launches()` returns job id → number of HyPhy launches (the scheduler's own view); `ready()`
    waits for the backend before each (re)start, so what is tested is our crash, not the backend's."""
    ready()
    server.start()
    ids = []
    for i, content in enumerate(tiny_alignments(CONCURRENT)):
        response = server.upload(content, f"tiny-{i}.fasta")
        assert response.status_code == 201, response.text
        ids.append(response.json()["datasets"][0]["id"])
    bodies = [{"alignment": ds_id} for ds_id in ids]

    fired: list[tuple[str, dict, Outcome]] = []
    for method, kill_after in rounds:
        outcomes = fire_and_kill(server, f"/methods/{method}-start", bodies, kill_after)
        fired += [(method, body, outcome) for body, outcome in zip(bodies, outcomes)]
        ready()
        server.start()  # same stores, new process: JobService.recover() runs

    answered = [o for _, _, o in fired if o.status is not None]
    assert all(o.status < 500 for o in answered), [(o.status, o.body) for o in answered if o.status >= 500]
    assert all(o.acknowledged for o in answered), [(o.status, o.body) for o in answered if not o.acknowledged]

    # Every acknowledged start is tracked; a cut-off one may have a job.
    jobs: dict[int, str | None] = {}
    for n, (method, body, outcome) in enumerate(fired):
        jobs[n] = job_of(server, method, body, outcome)
        if outcome.acknowledged:
            response = server.get(f"/jobs/{jobs[n]}")
            assert response.status_code == 200, f"acknowledged job {jobs[n]} is not tracked: {response.text}"
    tracked = sorted({j for j in jobs.values() if j})
    final = wait_final(lambda job_id: server.get(f"/jobs/{job_id}").json(), tracked)

    acknowledged = {n: jobs[n] for n, (_, _, o) in enumerate(fired) if o.acknowledged}
    lost = [j for j in acknowledged.values() if final[j]["status"] != "completed"]
    unexplained = [j for j, body in final.items() if body["status"] == "error" and not body.get("error_message")]
    launch_counts = launches()
    twice = {j: c for j, c in launch_counts.items() if c > 1}
    completed_without_launch = [j for j, b in final.items() if b["status"] == "completed" and launch_counts[j] != 1]
    records = tracker_records(tracker_root)
    per_key = Counter(r["request_key"] for r in records)
    listed = {j["job_id"] for j in server.get("/jobs").json()["jobs"]}

    # A client retries: every acknowledged start comes back as the same job (no new run); two
    # cut-off ones (one whose job failed, one that made none, when there are) make a job that
    # completes. (Retrying all of them would only add HyPhy runs, not checks.)
    cut_off = [n for n, (_, _, o) in enumerate(fired) if not o.acknowledged]
    failed = [n for n in cut_off if jobs[n] and final[jobs[n]]["status"] == "error"]
    never = [n for n in cut_off if not jobs[n]]
    retried = {}
    for n in [*acknowledged, *failed[:1], *never[:1]]:
        method, body, _ = fired[n]
        retried[n] = start_retrying(server, method, body)
    changed = [n for n, j in acknowledged.items() if retried[n] != j]
    after_retry = wait_final(lambda job_id: server.get(f"/jobs/{job_id}").json(), sorted(set(retried.values())))
    launch_counts_after = launches()
    return {
        "faults": len(rounds), "starts": len(fired), "acknowledged": len(acknowledged),
        "cut_off": sum(o.status is None for _, _, o in fired), "tracked": len(tracked),
        "final": sum(b["status"] in ("completed", "error") for b in final.values()),
        "completed": sum(b["status"] == "completed" for b in final.values()),
        "errors": {j: b.get("error_message", "") for j, b in final.items() if b["status"] == "error"},
        "lost": lost, "unexplained_errors": unexplained,
        "launched_twice": twice, "completed_without_one_launch": completed_without_launch,
        "records_per_request_key_max": max(per_key.values()), "records": {r["job_id"]: r["state"] for r in records},
        "listed": listed, "tracked_ids": set(tracked),
        "retry_changed_acknowledged": changed,
        "after_retry_not_completed": [j for j, b in after_retry.items() if b["status"] != "completed"],
        "launched_twice_after_retry": {j: c for j, c in launch_counts_after.items() if c > 1},
        "error_jobs_that_ran": [j for j, b in final.items() if b["status"] == "error" and launch_counts[j]],
        # Records no answer or body lookup leads to (killed between writing the record and its key).
        "unreachable_records": {r["job_id"]: (r["state"], launch_counts[r["job_id"]]) for r in records
                                if r["job_id"] not in tracked},
    }


def run_local(root: Path) -> dict[str, Any]:
    wrapper, launch_log = launch_logging_hyphy(root / "bin")
    server = ServiceProcess(root, local_settings(root, HYPHY_BINARY=str(wrapper), LOCAL_MAX_CONCURRENT_JOBS=2))
    try:
        return scenario(server, [("fel", 1), ("slac", 8)], root / "job-tracker",
                        lambda: launches_per_job(launch_log, root / "jobs"))
    finally:
        server.stop()
        kill_leftover_runners([root / "jobs"])


def run_slurm(root: Path) -> dict[str, Any]:
    shared = new_work_root()  # world-traversable: the job user must reach the job directories
    work = shared / "jobs"
    wrapper, launch_log = launch_logging_hyphy(shared / "bin")
    settings = {
        **store_settings(root), **cluster_env(), "JOB_WORK_LOCATION": str(work), "HYPHY_BINARY": str(wrapper),
        "SLURM_POLL_SECS": 1, "METHOD_CPUS": 1, "LOG_LEVEL": "INFO",
    }
    assert settings["SCHEDULER_TYPE"] == "SlurmRestScheduler"

    def cluster_ready() -> None:
        """The shared cluster may be restarted by other test runs: wait until it answers."""
        wait_for(lambda: not cluster_answers(), "the local Slurm cluster to answer", deadline_s=300, interval_s=1)

    def launches() -> Counter:
        """Per job id of ours: Slurm jobs named for it (Slurm's own list) or HyPhy launches, whichever is more."""
        cluster_ready()
        in_slurm = Counter(j.name.removeprefix("datamonkey-") for j in slurm_jobs()
                           if j.name.startswith("datamonkey-") and (work / j.name.removeprefix("datamonkey-")).is_dir())
        return in_slurm | launches_per_job(launch_log, work)

    server = ServiceProcess(root, settings)
    try:
        return scenario(server, [("fel", 3)], root / "job-tracker", launches, cluster_ready)
    finally:
        server.stop()
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture(scope="module", params=[
    "local", pytest.param("slurm", marks=pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "cluster available")),
])
def figures(request, tmp_path_factory) -> dict[str, Any]:
    started = time.monotonic()
    result = (run_local if request.param == "local" else run_slurm)(tmp_path_factory.mktemp(f"kill9-{request.param}"))
    result["seconds"] = round(time.monotonic() - started)
    summary = {k: result[k] for k in ("faults", "starts", "acknowledged", "cut_off", "tracked", "final", "completed",
                                      "seconds")}
    print(f"\nkill -9 during starts ({request.param}): {summary}, lost={len(result['lost'])}, "
          f"duplicates={len(result['launched_twice'])}, unreachable records={result['unreachable_records']}, "
          f"errors that ran={result['error_jobs_that_ran']}, errors={result['errors']}")
    return result


def test_every_acknowledged_start_is_tracked_and_completes(figures):
    assert figures["acknowledged"] > 0, "the kill came before any start was answered: nothing was tested"
    assert figures["cut_off"] > 0, "every start was answered before the kill: nothing was cut off"
    assert figures["lost"] == [], "acknowledged jobs that did not complete"


def test_every_job_reaches_a_final_state_with_a_reason(figures):
    assert figures["final"] == figures["tracked"]
    assert figures["unexplained_errors"] == []


def test_nothing_runs_twice_and_one_record_per_request(figures):
    assert figures["launched_twice"] == {}, "a job was launched more than once"
    assert figures["completed_without_one_launch"] == []
    assert figures["records_per_request_key_max"] == 1, "two job records for one request body"
    assert figures["launched_twice_after_retry"] == {}


def test_tracker_lookups_and_job_list_agree(figures):
    """Every job a client can reach is listed and stored; a record the kill left unreachable (written
    before its request key) is final and never ran."""
    assert figures["tracked_ids"] <= figures["listed"] <= set(figures["records"])
    assert all(state in ("completed", "error") for state in figures["records"].values()), figures["records"]
    assert all(state == "error" and not ran for state, ran in figures["unreachable_records"].values()), (
        figures["unreachable_records"])


def test_a_retry_returns_the_acknowledged_job_and_completes_the_others(figures):
    assert figures["retry_changed_acknowledged"] == [], "a retry of an acknowledged start made a new job"
    assert figures["after_retry_not_completed"] == []


def test_no_job_is_reported_failed_while_its_run_goes_on(figures):
    assert figures["error_jobs_that_ran"] == [], "jobs reported as errors whose HyPhy ran anyway"


def test_runner_started_but_not_recorded_is_not_started_again(tmp_path):
    """The kill lands between the LocalScheduler starting a job's runner and writing its pid file
    (a window of microseconds, so it is reproduced here: the queued job's runner is started the way
    the dead service would have). After the restart the job must run once, not twice."""
    wrapper, launch_log = launch_logging_hyphy(tmp_path / "bin", delay_s=5)  # outlives the restart
    server = ServiceProcess(tmp_path, local_settings(tmp_path, HYPHY_BINARY=str(wrapper), LOCAL_MAX_CONCURRENT_JOBS=1))
    runner = None
    try:
        server.start()
        jobs = []
        for i, content in enumerate(tiny_alignments(2)):
            dataset = server.upload(content, f"tiny-{i}.fasta").json()["datasets"][0]["id"]
            response = server.post("/methods/fel-start", json={"alignment": dataset})
            assert response.status_code == 200, response.text
            jobs.append(response.json()["job_id"])
        server.kill9()
        queued = tmp_path / "jobs" / jobs[1]
        assert (queued / COMMAND_FILE).exists() and not (queued / PID_FILE).exists(), "the second job was not queued"
        runner = subprocess.Popen(  # what LocalScheduler._dispatch does, the pid file aside
            [sys.executable, "-m", "service.schedulers.local_runner", str(queued)], cwd=queued,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)})
        server.start()
        final = wait_final(lambda job_id: server.get(f"/jobs/{job_id}").json(), jobs, deadline_s=300)
        assert all(body["status"] == "completed" for body in final.values()), final
        assert launches_per_job(launch_log, tmp_path / "jobs") == Counter({jobs[0]: 1, jobs[1]: 1})
    finally:
        server.stop()
        if runner is not None and runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(timeout=30)
        kill_leftover_runners([tmp_path / "jobs"])
