"""POST /jobs/{jobId}/retry: a failed or cancelled job runs again as a new, linked attempt."""

from __future__ import annotations

from service.schedulers.base import SchedulerRefused, SchedulerUnavailable
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import start_ok

ALICE = "alice-retry-token-9f8e7d"
BOB = "bob-retry-token-1a2b3c"


def failed_fel(client, fake, adh_id, token=None) -> str:
    job_id = start_ok(client, "fel", {"alignment": adh_id}, token=token)["job_id"]
    fake.finish(job_id, exit_code=1, stdout="Error: out of memory\n")
    headers = {"user_token": token} if token else {}
    assert client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()["status"] == "error"
    return job_id


def test_retry_submits_a_linked_attempt_with_more_resources(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    old_resources = client.get(f"/api/v1/jobs/{old}").json()["resources"]
    response = client.post(f"/api/v1/jobs/{old}/retry", json={"memory_mb": 8192, "cpus": 2})
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["job_id"] != old and new["status"] == "queued"
    assert (new["attempts"], new["previous_job_ids"]) == (2, [old])
    assert new["resources"] == {**old_resources, "memory_mb": 8192, "cpus": 2}
    spec = fake.submitted[new["job_id"]]
    assert (spec.memory_mb, spec.cpus, spec.time_limit_min) == (8192, 2, old_resources["time_limit_min"])
    assert "CPU=2" in spec.argv and spec.workdir.name == new["job_id"]
    assert (new["method"], new["options"], new["datasets"]) == ("fel", *(
        client.get(f"/api/v1/jobs/{old}").json()[k] for k in ("options", "datasets")))
    old_view = client.get(f"/api/v1/jobs/{old}").json()
    assert old_view["retried_as"] == new["job_id"] and old_view["status"] == "error"
    # the original request body now finds the new attempt
    assert client.post("/api/v1/methods/fel-result", json={"alignment": adh_id}).json()["job_id"] == new["job_id"]


def test_a_chain_of_retries_keeps_every_attempt(client, fake, adh_id):
    first = failed_fel(client, fake, adh_id)
    second = client.post(f"/api/v1/jobs/{first}/retry").json()["job_id"]
    client.post(f"/api/v1/jobs/{second}/cancel")
    third = client.post(f"/api/v1/jobs/{second}/retry", json={"time_limit_min": 600}).json()
    assert (third["attempts"], third["previous_job_ids"]) == (3, [first, second])
    assert third["resources"]["time_limit_min"] == 600
    fake.finish(third["job_id"], result=GOOD_RESULT)
    assert client.get(f"/api/v1/jobs/{third['job_id']}").json()["status"] == "completed"


def test_only_the_latest_failed_attempt_can_be_retried(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    new = client.post(f"/api/v1/jobs/{old}/retry").json()["job_id"]
    again = client.post(f"/api/v1/jobs/{old}/retry")
    assert again.status_code == 409 and new in again.json()["error"]
    running = client.post(f"/api/v1/jobs/{new}/retry")
    assert running.status_code == 409 and "queued" in running.json()["error"]
    fake.finish(new, result=GOOD_RESULT)
    done = client.post(f"/api/v1/jobs/{new}/retry")
    assert done.status_code == 409 and "completed" in done.json()["error"]


def test_a_job_started_again_since_blocks_retrying_the_old_one(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    newer = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    response = client.post(f"/api/v1/jobs/{old}/retry")
    assert response.status_code == 409 and newer in response.json()["error"]


def test_a_deleted_dataset_is_a_conflict_naming_it(client, fake):
    adh_id = upload_id(client, ADH_NEXUS)
    old = failed_fel(client, fake, adh_id)
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 204
    response = client.post(f"/api/v1/jobs/{old}/retry")
    assert response.status_code == 409 and adh_id in response.json()["error"]


def test_scheduler_down_is_503_and_nothing_changes(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    fake.submit_error = SchedulerUnavailable("slurmrestd at http://x is unreachable")
    response = client.post(f"/api/v1/jobs/{old}/retry")
    assert response.status_code == 503
    assert "retried_as" not in client.get(f"/api/v1/jobs/{old}").json()
    assert client.post("/api/v1/methods/fel-result", json={"alignment": adh_id}).json()["job_id"] == old
    assert [j["job_id"] for j in client.get("/api/v1/jobs").json()["jobs"]] == [old]
    fake.submit_error = None
    assert client.post(f"/api/v1/jobs/{old}/retry").status_code == 201


def test_bad_resources_are_422_naming_the_field(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    for body, field in (({"cpus": 0}, "cpus"), ({"memory_mb": "lots"}, "memory_mb"), ({"gpus": 1}, "gpus")):
        response = client.post(f"/api/v1/jobs/{old}/retry", json=body)
        assert response.status_code == 422 and field in response.text, (body, response.text)
    assert "retried_as" not in client.get(f"/api/v1/jobs/{old}").json()


def test_only_the_owner_may_retry(client, fake):
    adh_id = upload_id(client, ADH_NEXUS, token=ALICE)
    old = failed_fel(client, fake, adh_id, token=ALICE)
    assert client.post(f"/api/v1/jobs/{old}/retry", headers={"user_token": BOB}).status_code == 403
    assert client.post(f"/api/v1/jobs/{old}/retry").status_code == 401
    assert client.post(f"/api/v1/jobs/{old}/retry", headers={"user_token": ALICE}).status_code == 201


def test_resources_the_scheduler_refuses_are_422_naming_them(client, fake, adh_id):
    old = failed_fel(client, fake, adh_id)
    fake.submit_error = SchedulerRefused("Slurm refused the job: Requested node configuration is not available")
    response = client.post(f"/api/v1/jobs/{old}/retry", json={"cpus": 64})
    assert response.status_code == 422
    assert [(e["field"], "node configuration" in e["message"]) for e in response.json()["errors"]] == [("cpus", True)]
    assert "retried_as" not in client.get(f"/api/v1/jobs/{old}").json()
    # the same refusal without resources the client chose stays the server's error
    assert client.post(f"/api/v1/jobs/{old}/retry").status_code == 500
