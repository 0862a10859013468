"""Live Slurm: JOB_WORK_LOCATION under a directory the job user cannot enter (mode 0700).

/health says so before any job runs (job_work unhealthy, naming the directory and the user), and
a job submitted anyway fails exactly as predicted: Slurm cannot open its output files
(JobLaunchFailure), and the job ends in error once the exit_status grace period is over.
"""

from __future__ import annotations

import shutil

import pytest

from tests.integration.helpers import describe, services, start
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    USER,
    build_slurm_app,
    fel_body,
    new_work_root,
    release_at_least,
    wait_status,
)

pytestmark = SLURM_LIVE


@pytest.fixture
def blocked_root():
    top = new_work_root()
    private = top / "private"
    private.mkdir(mode=0o700)
    yield private / "jobs"
    shutil.rmtree(top, ignore_errors=True)


def test_an_unreachable_job_work_location_is_reported_and_jobs_fail_as_predicted(tmp_path, blocked_root):
    app = build_slurm_app(tmp_path, blocked_root)
    try:
        client = app.test_client()
        health = client.get("/api/v1/health")
        assert health.status_code == 503, health.text
        assert health.json()["details"]["job_work"] == "unhealthy"
        reason = health.json()["reasons"]["job_work"]
        assert f"'{USER}'" in reason and "'private'" in reason, reason

        job = start(client, "fel", fel_body(client))
        final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=300)
        assert final["status"] == "error", describe(final)
        if release_at_least("26.05"):
            # 26.05 (observed): the job ends FAILED with reason RaisedSignal:53, not JobLaunchFailure
            assert "RaisedSignal" in final["error_message"], describe(final)
            assert "before its script recorded an exit status" in final["error_message"], describe(final)
        else:
            assert "JobLaunchFailure" in final["error_message"], describe(final)
        assert services(app).jobs.tracker.get(job["job_id"]).native_id
    finally:
        services(app).scheduler.shutdown()
