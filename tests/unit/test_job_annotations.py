"""PATCH /jobs/{jobId}: the owner's labels and notes, merged (JSON merge patch); nobody else's."""

from __future__ import annotations

import pytest

from tests.unit.helpers import start_ok


@pytest.fixture
def job_id(client, fake, adh_id):
    return start_ok(client, "fel", {"alignment": adh_id})["job_id"]


def patch(client, job_id, body, token=None):
    return client.patch(f"/api/v1/jobs/{job_id}", json=body, headers={"user_token": token} if token else {})


def test_labels_merge_key_by_key_notes_replace_and_null_removes(client, job_id):
    assert patch(client, job_id, {"labels": {"gene": "adh", "run": "1"}}).json()["annotations"] == {
        "labels": {"gene": "adh", "run": "1"}}
    body = patch(client, job_id, {"labels": {"run": None, "host": "drosophila"}, "notes": "first look"}).json()
    assert body["annotations"] == {"labels": {"gene": "adh", "host": "drosophila"}, "notes": "first look"}
    assert patch(client, job_id, {"notes": None, "labels": None}).json()["annotations"] == {}
    assert client.get(f"/api/v1/jobs/{job_id}").json()["annotations"] == {}


def test_only_the_owner_may_annotate(client, job_id):
    assert patch(client, job_id, {"notes": "x"}, token="someone-else-token-123").status_code == 403
    assert client.get(f"/api/v1/jobs/{job_id}").json()["annotations"] == {}


@pytest.mark.parametrize("body,field", [
    ({"colour": "red"}, "colour"),
    ({"labels": {"k": 1}}, "labels"),
    ({"notes": "x" * 10001}, "notes"),
    ({"labels": {f"k{i}": "v" for i in range(51)}}, "labels"),
])
def test_bad_annotations_are_422_and_change_nothing(client, job_id, body, field):
    response = patch(client, job_id, body)
    assert response.status_code == 422, response.text
    assert any(field in e["field"] + e["message"] for e in response.json()["errors"]), response.text
    assert client.get(f"/api/v1/jobs/{job_id}").json()["annotations"] == {}


def test_all_annotations_together_are_bounded(client, job_id):
    for batch in range(3):
        labels = {f"k{batch}-{i}": "v" * 250 for i in range(25)}
        response = patch(client, job_id, {"labels": labels})
    assert response.status_code == 422 and "16384 bytes" in response.text
    assert len(client.get(f"/api/v1/jobs/{job_id}").json()["annotations"]["labels"]) == 50
