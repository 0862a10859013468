"""Live Slurm: slurmrestd stopped, then restarted; slurmctld stopped, then restarted.

While it is down, `*-start` answers 503 with Retry-After and records nothing, reads of an
existing job serve its cached state, /health is 503; once it is back (`scripts/local-slurm.sh
start` restarts only what is down) the service recovers and the job completes. With slurmctld
down (slurmrestd up), /health names slurmctld within its ping timeout. The cluster is always
restored, whatever happens.
"""

from __future__ import annotations

from tests.integration.helpers import describe, result_by_id, services, start, wait_for
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    build_slurm_app,
    daemon_pid,
    fel_body,
    shutdown,
    slurm_ids,
    slurm_jobs_named,
    start_cluster,
    stop_daemon,
    wait_status,
)

pytestmark = SLURM_LIVE


def test_slurmrestd_outage_then_recovery(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root)
    try:
        client = app.test_client()
        body = fel_body(client, resample=4)  # ~30 s
        job = start(client, "fel", body)
        wait_status(client, job["job_id"], ("running",), deadline_s=120)
        tracker = services(app).jobs.tracker
        before = {r.job_id for r in tracker.list_owner(tracker.get(job["job_id"]).owner)}
        try:
            stop_daemon("slurmrestd")
            assert daemon_pid("slurmrestd") is None

            refused = client.post("/api/v1/methods/fel-start", json={**body, "resample": 1})
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert {r.job_id for r in tracker.list_owner(tracker.get(job["job_id"]).owner)} == before

            cached = result_by_id(client, "fel", job["job_id"])  # 200, no 500
            assert cached["status"] in ("running", "completed"), describe(cached)
            listed = client.get(f"/api/v1/jobs/{job['job_id']}")
            assert listed.status_code == 200, listed.text
            health = client.get("/api/v1/health")
            assert health.status_code == 503, health.text
            assert health.json()["details"]["slurmrestd"] == "unhealthy"
            assert "unreachable" in health.json()["reasons"]["slurmrestd"]
        finally:
            start_cluster()

        healthy_again(client)
        final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=600)
        assert final["status"] == "completed", describe(final)
        assert len(slurm_jobs_named(f"datamonkey-{job['job_id']}")) == 1
        again = start(client, "fel", {**body, "resample": 1})  # submitting works again
        slurm_ids(tracker.get(again["job_id"]).native_id)
        client.delete(f"/api/v1/jobs/{again['job_id']}")
    finally:
        shutdown(app)


def test_slurmctld_down_is_named_by_health(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root)
    try:
        client = app.test_client()
        assert client.get("/api/v1/health").status_code == 200
        try:
            stop_daemon("slurmctld")
            # the cached healthy ping is served while the next one is awaited in the background
            health = wait_for(lambda: (r := client.get("/api/v1/health")).status_code == 503 and r,
                              "/health to report slurmctld down", deadline_s=60)
            details = health.json()["details"]
            assert (details["slurmrestd"], details["slurmctld"], details["slurm_token"]) == (
                "healthy", "unhealthy", "healthy"), health.text
            assert "slurmctld" in health.json()["reasons"]["slurmctld"]
        finally:
            start_cluster()
        healthy_again(client)
    finally:
        shutdown(app)


def healthy_again(client) -> None:
    """/health answers 200 again (its ping result is cached for HEALTH_CACHE_S)."""
    wait_for(lambda: client.get("/api/v1/health").status_code == 200, "/health to be 200 again", deadline_s=120)
