"""Live Slurm: a client's own X-SLURM-USER-TOKEN (upstream's pass-through) runs the job as that user.

The client token here is what `scontrol token username=nobody` would hand out: an HS256 JWT for
the unix user `nobody`, signed with the cluster's key. The service's own token stays `datamonkey`.
Slurm 26.05 refuses jobs of `nobody` (observed: "Rejecting authentication of user nobody or group
nobody", error 6010), so there the client is `daemon` (uid 1 on every Debian, so the same user
on this machine and in a suite's chroot).
"""

from __future__ import annotations

import pytest
import requests

from tests.integration.helpers import services
from tests.integration.slurm_helpers import (
    API,
    REST_URL,
    SLURM_LIVE,
    WHY_NOT,
    build_slurm_app,
    fel_body,
    release_at_least,
    shutdown,
    slurm_ids,
    slurm_job,
    token,
    wait_slurm_state,
    wait_status,
)

pytestmark = SLURM_LIVE
CLIENT_USER = "daemon" if not WHY_NOT and release_at_least("26.05") else "nobody"


@pytest.fixture
def app(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root)
    yield app
    shutdown(app)


def client_headers(**token_args) -> dict[str, str]:
    return {"X-SLURM-USER-TOKEN": token(user=CLIENT_USER, **token_args)}  # user name from the `sun` claim


def test_a_client_token_runs_the_job_as_the_client_and_can_cancel_it(app):
    client = app.test_client()
    quick = client.post("/api/v1/methods/fel-start", json=fel_body(client), headers=client_headers())
    long = client.post("/api/v1/methods/fel-start", json=fel_body(client, resample=100), headers=client_headers())
    assert quick.status_code == long.status_code == 200, (quick.text, long.text)
    assert quick.json()["cluster_user"] == long.json()["cluster_user"] == CLIENT_USER
    quick_id, long_id = quick.json()["job_id"], long.json()["job_id"]
    long_slurm_id, _ = slurm_ids(services(app).jobs.tracker.get(long_id).native_id)
    try:
        done = wait_status(client, quick_id, ("completed", "error"), deadline_s=240)
        assert done["status"] == "completed", done
        assert done["result"]["MLE"]["content"]["0"], "FEL wrote no site table"
        quick_slurm_id, _ = slurm_ids(services(app).jobs.tracker.get(quick_id).native_id)
        assert slurm_job(quick_slurm_id).user_name == CLIENT_USER

        wait_slurm_state(long_slurm_id, ("RUNNING",), deadline_s=120)
        assert slurm_job(long_slurm_id).user_name == CLIENT_USER
        response = client.delete(f"/api/v1/jobs/{long_id}", headers=client_headers())
        assert response.status_code == 204, response.text
        assert wait_slurm_state(long_slurm_id, ("CANCELLED",), deadline_s=30).user_name == CLIENT_USER
    finally:
        requests.delete(f"{REST_URL}{API}/job/{long_slurm_id}", timeout=30,
                        headers={"X-SLURM-USER-NAME": CLIENT_USER, "X-SLURM-USER-TOKEN": token(user=CLIENT_USER)})


def test_a_client_token_slurm_refuses_is_a_401_and_nothing_is_recorded(app):
    client = app.test_client()
    response = client.post("/api/v1/methods/fel-start", json=fel_body(client),
                           headers=client_headers(key=b"not the cluster's key, 32 bytes long"))
    assert response.status_code == 401, response.text
    assert "X-SLURM-USER-TOKEN" in response.json()["message"]
    assert services(app).jobs.tracker.list_owner("anonymous") == []
