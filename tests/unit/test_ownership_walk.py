"""Every operation of openapi.yaml, walked as the owner, as another token and as anonymous.

Alice owns a dataset and a finished job. Bob (another token) and an anonymous caller try every
operation on them: reads, listings, result polls, starts that reference Alice's data, cancels and
deletes. None may see or change anything of Alice's (401 anonymous, 403 another token, 404 when
the object is addressed through another method's endpoint; 422 or 501 when the request is refused
before any object is looked at, e.g. a method's required options missing). A new operation added to the spec
must be added to the walk (the coverage test fails otherwise).
"""

from __future__ import annotations

from typing import Callable

import pytest

from service.api.spec import load_spec
from service.methods import METHODS
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import start_ok

ALICE = "alice-walk-token-0f3b9e2d"
BOB = "bob-walk-token-5c7a1e94"
#: Operations with no per-user object: nothing of Alice's can leak through them.
PUBLIC = {("get", "/health"), ("get", "/methods"), ("get", "/metrics")}


def headers(token: str | None) -> dict[str, str]:
    return {"user_token": token} if token else {}


@pytest.fixture
def alice(client, fake):
    dataset = upload_id(client, ADH_NEXUS, token=ALICE, name="alice-private-adh")
    job_id = start_ok(client, "fel", {"alignment": dataset}, token=ALICE)["job_id"]
    fake.finish(job_id, result=GOOD_RESULT)
    return {"dataset": dataset, "job": job_id}


def walk(client, alice) -> dict[tuple[str, str], Callable]:
    """(verb, path) → a call made as the given token, against Alice's objects."""
    ds, job = alice["dataset"], alice["job"]
    calls: dict[tuple[str, str], Callable] = {
        ("get", "/datasets"): lambda h: client.get("/api/v1/datasets", headers=h),
        ("post", "/datasets"): lambda h: client.post(
            "/api/v1/datasets", headers=h, files={"file": ("x.fas", b">a\nATG\n>b\nATG\n>c\nATG\n")},
            data={"meta": '{"name": "own upload"}'}),
        ("get", "/datasets/{datasetId}"): lambda h: client.get(f"/api/v1/datasets/{ds}", headers=h),
        ("get", "/datasets/{datasetId}/content"): lambda h: client.get(f"/api/v1/datasets/{ds}/content", headers=h),
        ("delete", "/datasets/{datasetId}"): lambda h: client.delete(f"/api/v1/datasets/{ds}", headers=h),
        ("get", "/jobs"): lambda h: client.get("/api/v1/jobs", headers=h),
        ("get", "/jobs/{jobId}"): lambda h: client.get(f"/api/v1/jobs/{job}", headers=h),
        ("delete", "/jobs/{jobId}"): lambda h: client.delete(f"/api/v1/jobs/{job}", headers=h),
        ("post", "/jobs/{jobId}/cancel"): lambda h: client.post(f"/api/v1/jobs/{job}/cancel", headers=h),
        ("patch", "/jobs/{jobId}"): lambda h: client.patch(f"/api/v1/jobs/{job}", json={"notes": "mine now"},
                                                          headers=h),
        ("post", "/jobs/{jobId}/retry"): lambda h: client.post(f"/api/v1/jobs/{job}/retry", headers=h),
        ("get", "/jobs/{jobId}/logs"): lambda h: client.get(f"/api/v1/jobs/{job}/logs", headers=h),
        ("get", "/jobs/{jobId}/report"): lambda h: client.get(f"/api/v1/jobs/{job}/report", headers=h),
    }
    for method in METHODS.values():
        body = {"alignment": ds}
        calls[("post", f"/methods/{method.id}-start")] = (
            lambda h, m=method.id, b=body: client.post(f"/api/v1/methods/{m}-start", json=b, headers=h))
        calls[("post", f"/methods/{method.id}-result")] = (
            lambda h, m=method.id, b=body: client.post(f"/api/v1/methods/{m}-result", json=b, headers=h))
        calls[("get", f"/methods/{method.id}-result")] = (
            lambda h, m=method.id: client.get(f"/api/v1/methods/{m}-result", params={"job_id": job}, headers=h))
    return calls


def spec_operations() -> set[tuple[str, str]]:
    return {(verb, path) for path, item in load_spec()["paths"].items()
            for verb in item if verb in ("get", "post", "put", "patch", "delete")}


def test_the_walk_covers_every_operation_of_the_spec(client, alice):
    assert spec_operations() - PUBLIC == set(walk(client, alice)), "add the new operation to walk()"


@pytest.mark.parametrize("caller,token", [("another token", BOB), ("anonymous", None)])
def test_nobody_else_reads_lists_starts_cancels_or_deletes_alices_objects(client, fake, alice, caller, token):
    leaked = []
    for (verb, path), call in walk(client, alice).items():
        response = call(headers(token))
        body = response.text
        if (verb, path) in {("get", "/datasets"), ("get", "/jobs"), ("post", "/datasets")}:
            assert response.status_code in (200, 201), (verb, path, response.text)
        elif response.status_code not in (401, 403, 404, 422, 501):  # 422/501: the request itself is refused
            leaked.append((verb, path, response.status_code, body[:200]))
        listing = (verb, path) in {("get", "/datasets"), ("get", "/jobs")}
        if "alice-private-adh" in body or "MLE" in body or (listing and (alice["dataset"] in body or alice["job"] in body)):
            leaked.append((verb, path, response.status_code, "shows Alice's object"))  # (an error may echo the id sent)
        if token is None and response.status_code == 403:
            leaked.append((verb, path, 403, "anonymous should get 401"))
    assert leaked == [], f"{caller}: {leaked}"
    assert fake.cancelled == []
    # Alice still has everything, untouched
    assert client.get(f"/api/v1/datasets/{alice['dataset']}", headers=headers(ALICE)).status_code == 200
    job = client.get(f"/api/v1/jobs/{alice['job']}", headers=headers(ALICE))
    assert job.status_code == 200 and job.json()["status"] == "completed"


def test_the_owner_can_do_all_of_it(client, fake, alice):
    owner = headers(ALICE)
    assert client.get(f"/api/v1/datasets/{alice['dataset']}/content", headers=owner).status_code == 200
    result = client.get("/api/v1/methods/fel-result", params={"job_id": alice["job"]}, headers=owner)
    assert result.status_code == 200 and result.json()["result"] == GOOD_RESULT
    assert client.delete(f"/api/v1/jobs/{alice['job']}", headers=owner).status_code == 204
    assert client.delete(f"/api/v1/datasets/{alice['dataset']}", headers=owner).status_code == 204
