"""Live Slurm: DELETE /jobs/{id} of a running job cancels it in Slurm and forgets the record;
POST /jobs/{id}/cancel cancels it and keeps the record (error, state cancelled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import services, start
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    build_slurm_app,
    fel_body,
    shutdown,
    slurm_ids,
    slurm_job,
    wait_slurm_state,
    wait_status,
)

pytestmark = SLURM_LIVE


@pytest.fixture
def app(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root)
    yield app
    shutdown(app)


def test_delete_cancels_the_running_slurm_job(app):
    client = app.test_client()
    job = start(client, "fel", fel_body(client, resample=100))  # ~10 min if left alone
    record = services(app).jobs.tracker.get(job["job_id"])
    slurm_id, _ = slurm_ids(record.native_id)
    try:
        wait_status(client, job["job_id"], ("running",), deadline_s=120)
        assert slurm_job(slurm_id).state == "RUNNING"

        response = client.delete(f"/api/v1/jobs/{job['job_id']}")
        assert response.status_code in (200, 204), response.text

        cancelled = wait_slurm_state(slurm_id, ("CANCELLED",), deadline_s=30)
        assert cancelled.name == f"datamonkey-{job['job_id']}"
        assert client.get(f"/api/v1/jobs/{job['job_id']}").status_code == 404
        assert services(app).jobs.tracker.get(job["job_id"]) is None
        assert not Path(record.workdir).exists()
    finally:
        current = slurm_job(slurm_id)
        if current is not None and current.state in ("PENDING", "RUNNING"):
            from tests.integration.slurm_helpers import slurm_cancel

            slurm_cancel(slurm_id)


def test_cancel_stops_the_slurm_job_and_keeps_the_record(app):
    client = app.test_client()
    job = start(client, "fel", fel_body(client, resample=100))
    slurm_id, _ = slurm_ids(services(app).jobs.tracker.get(job["job_id"]).native_id)
    try:
        wait_status(client, job["job_id"], ("running",), deadline_s=120)
        response = client.post(f"/api/v1/jobs/{job['job_id']}/cancel")
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["state"]) == ("error", "cancelled")
        wait_slurm_state(slurm_id, ("CANCELLED",), deadline_s=30)
        kept = client.get(f"/api/v1/jobs/{job['job_id']}").json()
        assert (kept["status"], kept["state"]) == ("error", "cancelled"), kept
    finally:
        current = slurm_job(slurm_id)
        if current is not None and current.state in ("PENDING", "RUNNING"):
            from tests.integration.slurm_helpers import slurm_cancel

            slurm_cancel(slurm_id)
