"""POST /jobs/{jobId}/cancel: stop without deleting; final `error` + state `cancelled`; idempotent."""

from __future__ import annotations

from service.schedulers.base import SchedulerUnavailable
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import start_ok

ALICE = "alice-cancel-token-1a2b3c"


def test_cancel_stops_the_job_and_keeps_it(client, fake, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    response = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["state"]) == ("error", "cancelled")
    assert body["error_message"].startswith("cancelled by the anonymous user at ")
    assert body["finished"] and fake.cancelled == [job_id]
    kept = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (kept["status"], kept["state"]) == ("error", "cancelled")
    assert client.get("/api/v1/methods/fel-result", params={"job_id": job_id}).json()["status"] == "error"


def test_cancel_is_idempotent_and_leaves_a_finished_job_alone(client, fake):
    adh_id = upload_id(client, ADH_NEXUS, token=ALICE)
    job_id = start_ok(client, "fel", {"alignment": adh_id}, token=ALICE)["job_id"]
    owner = {"user_token": ALICE}
    first = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=owner).json()
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=owner).json()
    assert again == first and fake.cancelled == [job_id]
    assert first["error_message"].startswith("cancelled by its owner at ")

    done = start_ok(client, "slac", {"alignment": adh_id}, token=ALICE)["job_id"]
    fake.finish(done, result=GOOD_RESULT)
    body = client.post(f"/api/v1/jobs/{done}/cancel", headers=owner).json()
    assert (body["status"], body["state"]) == ("completed", "completed") and done not in fake.cancelled


def test_a_cancelled_request_can_be_started_again(client, fake, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert start_ok(client, "fel", {"alignment": adh_id})["job_id"] != job_id


def test_scheduler_unavailable_is_503_and_the_job_is_unchanged(client, fake, adh_id, monkeypatch):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]

    def down(*_args, **_kwargs):
        raise SchedulerUnavailable("slurmrestd at http://x is unreachable")

    monkeypatch.setattr(fake, "cancel", down)
    response = client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "queued"


def test_unknown_job_is_404(client):
    assert client.post(f"/api/v1/jobs/{'0' * 32}/cancel").status_code == 404
