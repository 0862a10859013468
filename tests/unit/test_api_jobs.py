"""GET /jobs (filters), GET /jobs/{id}, DELETE /jobs/{id}, with a FakeScheduler."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.schedulers.base import SchedulerUnavailable
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import PLAIN_TREE, error_fields, start_ok

ADH_VARIANT = ADH_NEXUS.read_text().replace("#NEXUS", "#NEXUS\n[variant: same data, other bytes]", 1)


@pytest.fixture
def jobs(client, fake, adh_id):
    """Four jobs: FEL and SLAC on ADH, FEL on an ADH variant, FEL on ADH with a tree dataset."""
    variant = upload_id(client, ADH_VARIANT, name="variant")
    tree = upload_id(client, PLAIN_TREE, name="tree")
    made = {
        "fel": start_ok(client, "fel", {"alignment": adh_id}),
        "slac": start_ok(client, "slac", {"alignment": adh_id}),
        "fel_variant": start_ok(client, "fel", {"alignment": variant}),
        "fel_tree": start_ok(client, "fel", {"alignment": adh_id, "tree": tree}),
    }
    return {"ids": {k: v["job_id"] for k, v in made.items()}, "adh": adh_id, "variant": variant, "tree": tree}


def listed(client, **params) -> list[str]:
    response = client.get("/api/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [j["job_id"] for j in response.json()["jobs"]]


def test_list_all_jobs_newest_first(client, jobs):
    response = client.get("/api/v1/jobs").json()["jobs"]
    assert {j["job_id"] for j in response} == set(jobs["ids"].values())
    created = [j["created"] for j in response]
    assert created == sorted(created, reverse=True)


def test_filter_by_method(client, jobs):
    ids = jobs["ids"]
    assert set(listed(client, method="fel")) == {ids["fel"], ids["fel_variant"], ids["fel_tree"]}
    assert listed(client, method="slac") == [ids["slac"]]
    assert listed(client, method="meme") == []


def test_filter_by_alignment_and_tree(client, jobs):
    ids = jobs["ids"]
    assert set(listed(client, alignment_id=jobs["adh"])) == {ids["fel"], ids["slac"], ids["fel_tree"]}
    assert listed(client, alignment_id=jobs["variant"]) == [ids["fel_variant"]]
    assert listed(client, tree_id=jobs["tree"]) == [ids["fel_tree"]]
    assert listed(client, alignment_id=jobs["adh"], method="fel", tree_id=jobs["tree"]) == [ids["fel_tree"]]


def test_filter_by_status(client, fake, jobs):
    ids = jobs["ids"]
    fake.finish(ids["fel"], result=GOOD_RESULT)
    fake.finish(ids["slac"], exit_code=2, stdout="Error: bad data")
    fake.run(ids["fel_variant"])
    assert listed(client, status="completed") == [ids["fel"]]
    assert listed(client, status="error") == [ids["slac"]]
    assert listed(client, status="running") == [ids["fel_variant"]]
    assert listed(client, status="queued") == [ids["fel_tree"]]
    assert listed(client, status="completed", method="slac") == []


def test_bad_filters_are_422(client, jobs):
    assert error_fields(client.get("/api/v1/jobs", params={"status": "done"})) == ["status"]
    assert error_fields(client.get("/api/v1/jobs", params={"colour": "red"})) == ["colour"]


def test_get_job(client, jobs):
    job_id = jobs["ids"]["fel_tree"]
    response = client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["job_id"] == job_id and body["method"] == "fel" and body["status"] == "queued"
    assert body["alignment_id"] == jobs["adh"] and body["tree_id"] == jobs["tree"]


def test_get_unknown_job_is_404_with_its_id(client, fake):
    response = client.get(f"/api/v1/jobs/{'a' * 32}")
    assert response.status_code == 404
    assert response.json()["job_id"] == "a" * 32


def test_completed_job_states_are_final(client, fake, jobs):
    job_id = jobs["ids"]["fel"]
    fake.finish(job_id, result=GOOD_RESULT)
    body = client.get(f"/api/v1/jobs/{job_id}").json()
    assert body["status"] == "completed" and "finished" in body and "error_message" not in body
    calls = fake.status_calls
    client.get(f"/api/v1/jobs/{job_id}")
    assert fake.status_calls == calls  # a final job is not asked about again


def test_delete_cancels_a_running_job_then_it_is_gone(client, fake, jobs):
    job_id = jobs["ids"]["fel"]
    workdir = fake.workdir(job_id)
    fake.run(job_id)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert fake.cancelled == [job_id]
    assert not workdir.exists()
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 404
    assert client.get("/api/v1/methods/fel-result", params={"job_id": job_id}).status_code == 404
    assert job_id not in listed(client)


def test_delete_of_a_finished_job_does_not_cancel(client, fake, jobs):
    job_id = jobs["ids"]["slac"]
    fake.finish(job_id, result=GOOD_RESULT)
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert fake.cancelled == []
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_after_deleting_a_job_an_identical_start_makes_a_new_one(client, fake, jobs):
    old = jobs["ids"]["fel"]
    assert client.delete(f"/api/v1/jobs/{old}").status_code == 204
    assert client.post("/api/v1/methods/fel-result", json={"alignment": jobs["adh"]}).status_code == 404
    new = start_ok(client, "fel", {"alignment": jobs["adh"]})["job_id"]
    assert new != old


def test_deleting_the_job_frees_its_dataset(client, fake, jobs):
    variant = jobs["variant"]
    assert client.delete(f"/api/v1/datasets/{variant}").status_code == 409
    assert client.delete(f"/api/v1/jobs/{jobs['ids']['fel_variant']}").status_code == 204
    assert client.delete(f"/api/v1/datasets/{variant}").status_code == 204


def test_scheduler_outage_on_submit_is_503_and_leaves_no_job(client, fake, adh_id, settings_overrides):
    fake.submit_error = SchedulerUnavailable("slurmrestd is down")
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "slurmrestd is down" in response.json()["error"]
    assert listed(client) == []
    assert list(Path(settings_overrides["JOB_WORK_LOCATION"]).iterdir()) == []
    fake.submit_error = None
    assert start_ok(client, "fel", {"alignment": adh_id})["status"] == "queued"


def test_unexpected_submit_failure_leaves_no_phantom_job(client, fake, adh_id, settings_overrides):
    """A job whose submission blew up must not linger as `queued`: it would be reused by every
    identical start and block deleting its dataset forever."""
    fake.submit_error = RuntimeError("disk on fire")
    assert client.post("/api/v1/methods/fel-start", json={"alignment": adh_id}).status_code == 500
    assert listed(client) == []
    assert list(Path(settings_overrides["JOB_WORK_LOCATION"]).iterdir()) == []
    fake.submit_error = None
    job = start_ok(client, "fel", {"alignment": adh_id})
    assert job["job_id"] in fake.submitted
    fake.finish(job["job_id"], result=GOOD_RESULT)
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 204


def test_scheduler_outage_on_status_serves_the_stored_state(client, fake, jobs):
    fake.status_error = SchedulerUnavailable("down")
    response = client.get(f"/api/v1/jobs/{jobs['ids']['fel']}")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert len(listed(client)) == 4
