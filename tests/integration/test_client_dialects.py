"""Both api-datamonkey client dialects end to end, side by side on one server, with real FEL.

- v1.0.0 style: no token (the shared anonymous user), booleans and a `{"value", "display_name"}`
  genetic code, polling with POST *-result and the same body.
- v1.2.0 style: a `user_token` header, "Yes"/"No" strings and a plain genetic code name,
  polling with GET *-result?job_id=.

Each gets its own FEL run; neither sees the other's datasets or jobs.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.helpers import (
    INTEGRATION,
    FINAL,
    build_app,
    describe,
    fixture_id,
    kill_leftover_runners,
    start,
    wait_for,
)

pytestmark = INTEGRATION


@pytest.fixture(scope="module")
def dialects(tmp_path_factory):
    root = tmp_path_factory.mktemp("dialects")
    app = build_app(root, LOCAL_MAX_CONCURRENT_JOBS=2)
    client = app.test_client()
    token = f"it-{uuid.uuid4().hex}"
    try:
        v1_datasets = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk")}
        v1_body = {
            **v1_datasets, "ci": False, "srv": True, "resample": 0, "multiple_hits": "None",
            "site_multihit": "Estimate", "genetic_code": {"value": "Universal", "display_name": "Universal code"},
            "branches": [],
        }
        v1_job = start(client, "fel", v1_body)

        v2_datasets = {"alignment": fixture_id(client, "adh.fasta", token=token),
                       "tree": fixture_id(client, "adh.nwk", token=token)}
        v2_body = {**v2_datasets, "user_token": token, "ci": "No", "srv": "Yes", "genetic_code": "Universal"}
        v2_job = start(client, "fel", v2_body, token=token)

        def v1_poll():
            response = client.post("/api/v1/methods/fel-result", json=v1_body)
            assert response.status_code == 200, response.text
            return response.json() if response.json()["status"] in FINAL else None

        def v2_poll():
            response = client.get("/api/v1/methods/fel-result", params={"job_id": v2_job["job_id"]},
                                  headers={"user_token": token})
            assert response.status_code == 200, response.text
            return response.json() if response.json()["status"] in FINAL else None

        v1_final = wait_for(v1_poll, "the v1.0.0 client's FEL job")
        v2_final = wait_for(v2_poll, "the v1.2.0 client's FEL job")
        yield {
            "client": client, "token": token,
            "v1": {"datasets": v1_datasets, "job": v1_job, "final": v1_final},
            "v2": {"datasets": v2_datasets, "job": v2_job, "final": v2_final},
        }
    finally:
        kill_leftover_runners([root / "jobs"])


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_each_dialect_gets_a_real_fel_result(dialects, dialect):
    final = dialects[dialect]["final"]
    assert final["status"] == "completed", describe(final)
    assert final["job_id"] == dialects[dialect]["job"]["job_id"]
    result = final["result"]
    assert [h[0] for h in result["MLE"]["headers"]][:5] == ["alpha", "beta", "alpha=beta", "LRT", "p-value"]
    assert len(result["MLE"]["content"]["0"]) == 254
    assert result["input"]["number of sequences"] == 6


def test_dialects_ran_separate_jobs_with_identical_analyses(dialects):
    """Different owners → two jobs; both bodies normalise to the same options → same numbers."""
    v1, v2 = dialects["v1"], dialects["v2"]
    assert v1["job"]["job_id"] != v2["job"]["job_id"]
    assert set(v1["datasets"].values()).isdisjoint(v2["datasets"].values())
    assert v1["final"]["result"]["MLE"] == v2["final"]["result"]["MLE"]


def test_listings_are_private_to_each_dialect(dialects):
    client, token = dialects["client"], dialects["token"]
    v1, v2 = dialects["v1"], dialects["v2"]

    anonymous_datasets = {d["id"] for d in client.get("/api/v1/datasets").json()["datasets"]}
    token_datasets = {d["id"] for d in client.get("/api/v1/datasets", headers={"user_token": token}).json()["datasets"]}
    assert anonymous_datasets == set(v1["datasets"].values())
    assert token_datasets == set(v2["datasets"].values())

    anonymous_jobs = {j["job_id"] for j in client.get("/api/v1/jobs").json()["jobs"]}
    token_jobs = {j["job_id"] for j in client.get("/api/v1/jobs", headers={"user_token": token}).json()["jobs"]}
    assert anonymous_jobs == {v1["job"]["job_id"]}
    assert token_jobs == {v2["job"]["job_id"]}


def test_neither_dialect_can_read_the_others_objects(dialects):
    client, token = dialects["client"], dialects["token"]
    v1, v2 = dialects["v1"], dialects["v2"]
    # Token-less caller on the token user's objects: 401; token user on the anonymous user's: 403.
    assert client.get(f"/api/v1/jobs/{v2['job']['job_id']}").status_code == 401
    assert client.get(f"/api/v1/datasets/{v2['datasets']['alignment']}").status_code == 401
    assert client.get("/api/v1/methods/fel-result", params={"job_id": v2["job"]["job_id"]}).status_code == 401
    assert client.get(f"/api/v1/jobs/{v1['job']['job_id']}", headers={"user_token": token}).status_code == 403
    assert client.get(f"/api/v1/datasets/{v1['datasets']['alignment']}",
                      headers={"user_token": token}).status_code == 403
    # Starting on someone else's dataset is refused too, before anything runs.
    response = client.post("/api/v1/methods/fel-start", json={**v1["datasets"]}, headers={"user_token": token})
    assert response.status_code == 403, response.text
