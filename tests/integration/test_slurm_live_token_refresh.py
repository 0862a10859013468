"""Live Slurm: with a 30 s token lifetime and a 10 s refresh interval, a job submitted under the
first token is tracked to completion well past that token's expiry, and a second job submits.

The first token is kept and, once expired, shown to be refused by slurmrestd itself, so the test
proves the service really moved on to newer tokens.
"""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest
import requests

from tests.integration.helpers import describe, services, start
from tests.integration.slurm_helpers import (
    API,
    REST_URL,
    SLURM_LIVE,
    USER,
    build_slurm_app,
    fel_body,
    shutdown,
    slurm_ids,
    slurm_jobs_named,
    wait_status,
)

pytestmark = SLURM_LIVE

LIFETIME_S, REFRESH_S = 30, 10


@pytest.fixture
def app(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root, SLURM_JWT_EXPIRATION_SECS=LIFETIME_S,
                          SLURM_JWT_REFRESH_SECS=REFRESH_S)
    yield app
    shutdown(app)


def test_jobs_keep_working_past_the_first_tokens_expiry(app):
    client = app.test_client()
    manager = services(app).scheduler.jwt
    first_token = manager.token()
    first_exp = pyjwt.decode(first_token, options={"verify_signature": False})["exp"]
    refreshes_before = manager.refreshes

    job = start(client, "fel", fel_body(client, resample=7))  # ~45 s under Slurm
    final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=600)
    assert final["status"] == "completed", describe(final)
    while time.time() < first_exp + 2:  # (the job normally outlives the token by itself)
        time.sleep(1)
    assert time.time() > first_exp

    # The first token is really dead: slurmrestd (slurmctld) refuses it.
    stale = requests.get(f"{REST_URL}{API}/jobs", timeout=30,
                         headers={"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": first_token})
    assert stale.status_code != 200, "the first token should have expired"
    assert manager.refreshes >= refreshes_before + 2
    assert manager.token() != first_token

    second = start(client, "fel", fel_body(client, resample=0))
    record = services(app).jobs.tracker.get(second["job_id"])
    slurm_ids(record.native_id)
    assert len(slurm_jobs_named(f"datamonkey-{second['job_id']}")) == 1
    final = wait_status(client, second["job_id"], ("completed", "error"), deadline_s=600)
    assert final["status"] == "completed", describe(final)
