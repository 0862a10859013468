"""Live Slurm: a job that outlives its 1-minute time limit is reported as an error saying so.

METHOD_TIME_LIMIT_MIN=1 replaces the registry's time limit; FEL on adh with 100 bootstrap
replicates would run ~10 min, so Slurm kills it (about 60-90 s after it starts) as TIMEOUT.
"""

from __future__ import annotations

import pytest

from tests.integration.helpers import describe, services, start
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    build_slurm_app,
    fel_body,
    shutdown,
    slurm_ids,
    slurm_job,
    wait_status,
)

pytestmark = SLURM_LIVE


@pytest.fixture
def app(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root, METHOD_TIME_LIMIT_MIN=1)
    yield app
    shutdown(app)


def test_job_over_its_time_limit_is_an_error_with_that_reason(app):
    client = app.test_client()
    job = start(client, "fel", fel_body(client, resample=100))
    record = services(app).jobs.tracker.get(job["job_id"])
    assert record.resources["time_limit_min"] == 1
    slurm_id, _ = slurm_ids(record.native_id)
    assert slurm_job(slurm_id).time_limit == 1  # what Slurm was actually asked for

    final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=300)
    assert final["status"] == "error", describe(final)
    assert "1 min time limit" in final["error_message"], describe(final)
    assert slurm_job(slurm_id).state == "TIMEOUT"
