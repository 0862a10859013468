"""Error bodies: upstream shapes, a request_id equal to X-Request-ID, never a stack trace."""

from __future__ import annotations

import json

import pytest

from service.errors import (
    ApiError,
    ClientError,
    FieldError,
    Forbidden,
    InvalidRequest,
    MethodNotAvailable,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from service.schedulers.base import SchedulerUnavailable
from tests.conftest import ADH_NEXUS, upload, upload_id

ALICE, BOB = "alice-token", "bob-token"


def _dataset_in_use(client, fake):
    ds_id = upload_id(client, ADH_NEXUS)
    client.post("/api/v1/methods/fel-start", json={"alignment": ds_id})
    return client.delete(f"/api/v1/datasets/{ds_id}")


def _foreign_dataset(client, fake):
    ds_id = upload_id(client, ADH_NEXUS, token=ALICE)
    return client.delete(f"/api/v1/datasets/{ds_id}", headers={"user_token": BOB})


def _private_dataset(client, fake):
    return client.get(f"/api/v1/datasets/{upload_id(client, ADH_NEXUS, token=ALICE)}")


def _scheduler_down(client, fake):
    fake.submit_error = SchedulerUnavailable("connection refused")
    return client.post("/api/v1/methods/fel-start", json={"alignment": upload_id(client, ADH_NEXUS)})


def _crash(client, fake):
    fake.submit_error = RuntimeError("secret internal detail")
    return client.post("/api/v1/methods/fel-start", json={"alignment": upload_id(client, ADH_NEXUS)})


def _crash_in_status(client, fake):
    ds_id = upload_id(client, ADH_NEXUS)
    job_id = client.post("/api/v1/methods/fel-start", json={"alignment": ds_id}).json()["job_id"]
    fake.status_error = KeyError("boom")
    return client.get(f"/api/v1/jobs/{job_id}")


CASES = {
    "422-body": (422, lambda c, f: c.post("/api/v1/methods/fel-start", content=b"{",
                                          headers={"content-type": "application/json"})),
    "422-field": (422, lambda c, f: c.post("/api/v1/methods/fel-start", json={"ci": "Perhaps"})),
    "422-option": (422, lambda c, f: c.post("/api/v1/methods/fel-start", json={"alignment": "a1", "x": 1})),
    "422-query": (422, lambda c, f: c.get("/api/v1/jobs", params={"status": "finished"})),
    "422-upload": (422, lambda c, f: upload(c, b"")),
    "404-endpoint": (404, lambda c, f: c.get("/api/v1/no/such/endpoint")),
    "404-outside-api": (404, lambda c, f: c.get("/nothing-here")),
    "404-dataset": (404, lambda c, f: c.get(f"/api/v1/datasets/{'b' * 32}")),
    "404-job": (404, lambda c, f: c.get(f"/api/v1/jobs/{'c' * 32}")),
    "405": (405, lambda c, f: c.put("/api/v1/datasets")),
    "409": (409, _dataset_in_use),
    "401": (401, _private_dataset),
    "403": (403, _foreign_dataset),
    "413-stream": (413, lambda c, f: upload(c, b"A" * 10_000)),
    "413-request": (413, lambda c, f: upload(c, b"A" * (2 * 1024 * 1024))),
    "415": (415, lambda c, f: c.post("/api/v1/methods/fel-start", content=b"alignment=x",
                                     headers={"content-type": "text/plain"})),
    "500-submit": (500, _crash),
    "500-status": (500, _crash_in_status),
    "501": (501, lambda c, f: c.post("/api/v1/methods/slatkin-start", json={})),
    "503": (503, _scheduler_down),
}
#: The shape (required keys) each status renders in, as in upstream's specs.
SHAPES = {
    401: {"code", "message"}, 403: {"code", "message"}, 404: {"error", "status"}, 405: {"error", "status"},
    409: {"error", "status"}, 413: {"error", "status"}, 415: {"error", "status"}, 422: {"errors"},
    500: {"error", "code", "details"}, 501: {"error", "code", "details"}, 503: {"error", "code", "details"},
}


@pytest.fixture
def small_app(make_app):
    from tests.unit.fakes import FakeScheduler

    fake = FakeScheduler()
    return make_app(scheduler=fake, DATASET_MAX_BYTES=8192), fake


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_body_shape_and_request_id(small_app, name):
    status, call = CASES[name]
    app, fake = small_app
    response = call(app.test_client(raise_server_exceptions=False), fake)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert SHAPES[status] <= set(body), body
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert body["request_id"] == request_id
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if status == 500:
        assert body == {"error": "internal server error", "code": "500", "details": "", "request_id": request_id}
    if status == 422:
        assert all(set(e) == {"field", "message"} and e["field"] for e in body["errors"])
    if status in (401, 403):
        assert body["code"] == status


def test_every_response_gets_a_fresh_request_id_and_the_clients_is_not_trusted(client):
    first = client.get("/api/v1/health", headers={"X-Request-ID": "client-chosen"})
    second = client.get("/api/v1/health")
    assert first.headers["X-Request-ID"] != "client-chosen"
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_pretty_print_indents_json(client):
    compact = client.get("/api/v1/health")
    pretty = client.get("/api/v1/health", params={"pretty_print": "true"})
    assert pretty.json() == compact.json()
    assert pretty.text.startswith("{\n  ")


def test_errors_render_upstream_shapes_directly():
    assert InvalidRequest([FieldError("ci", "bad")]).body() == {"errors": [{"field": "ci", "message": "bad"}]}
    assert Unauthorized("no").body() == {"code": 401, "message": "no"}
    assert Forbidden("no").body() == {"code": 403, "message": "no"}
    assert NotFound("Job not found", job_id="abc").body() == {"error": "Job not found", "status": 404, "job_id": "abc"}
    assert NotFound("Dataset not found").body() == {"error": "Dataset not found", "status": 404}
    assert ClientError(409, "busy").body() == {"error": "busy", "status": 409}
    assert ApiError("x").body() == {"error": "x", "code": "500", "details": ""}
    unavailable = ServiceUnavailable("down", retry_after=7)
    assert unavailable.status == 503 and unavailable.headers() == {"Retry-After": "7"}
    method = MethodNotAvailable("nrm", "not in this HyPhy")
    assert method.status == 501 and method.body()["details"] == "not in this HyPhy"
    assert json.dumps(method.body())  # serialisable


def test_wrong_verb_is_405_with_allow_header_in_upstream_shape(client):
    response = client.delete("/api/v1/health")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
    assert response.json() == {"error": "Method Not Allowed", "status": 405,
                               "request_id": response.headers["X-Request-ID"]}


@pytest.mark.parametrize("verb,path", [("get", "/api/v1/nope"), ("post", "/api/v1/methods/hyphy-start"),
                                       ("get", "/api/v2/health")])
def test_unknown_path_is_a_not_found_error(client, verb, path):
    response = getattr(client, verb)(path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found: no such endpoint", "status": 404,
                               "request_id": response.headers["X-Request-ID"]}


def test_a_scheduler_down_at_submit_is_a_503_saying_so_and_leaves_no_job(small_app):
    """SchedulerUnavailable is mapped once, at the HTTP edge (service/api/errors.py)."""
    app, fake = small_app
    client = app.test_client()
    response = _scheduler_down(client, fake)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.json()["error"] == "the job scheduler is unavailable: connection refused"
    assert response.json()["code"] == "unavailable"
    assert client.get("/api/v1/jobs").json()["jobs"] == []
