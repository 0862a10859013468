"""Limits: request body size (413 while streaming, before parsing) and ids validated by pattern."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADH_NEXUS, upload_id


@pytest.fixture
def small(make_app):
    return make_app(REQUEST_MAX_BYTES=2048, DATASET_MAX_BYTES=64 * 1024).test_client()


def assert_413(response, limit: int):
    assert response.status_code == 413, response.text
    body = response.json()
    assert str(limit) in json.dumps(body) and body["request_id"] == response.headers["X-Request-ID"]


def test_a_json_body_over_request_max_bytes_is_413_naming_the_limit(small):
    dataset = upload_id(small, ADH_NEXUS)
    big = {"alignment": dataset, "branches": ["x" * 100] * 50}
    assert_413(small.post("/api/v1/methods/fel-start", json=big), 2048)
    assert small.post("/api/v1/methods/fel-start", json={"alignment": dataset}).status_code != 413


def test_a_body_without_content_length_is_counted_as_it_streams():
    """Chunked bodies: the middleware counts what the app reads and stops it at the limit."""
    import asyncio

    from starlette.exceptions import HTTPException

    from service.api.middleware.body_limit import BodyLimitMiddleware

    read = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            read.append(len(message["body"]))
            if not message.get("more_body"):
                return

    async def receive_chunks():
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    middleware = BodyLimitMiddleware(app, request_max_bytes=2048, upload_max_bytes=10)
    scope = {"type": "http", "headers": [(b"content-type", b"application/json")]}
    with pytest.raises(HTTPException) as caught:
        asyncio.run(middleware(scope, receive_chunks, None))
    assert caught.value.status_code == 413 and "2048" in caught.value.detail
    assert sum(read) == 2000  # the third chunk was refused, not handed to the app


def test_an_upload_gets_the_dataset_limit_not_the_json_one(small):
    assert small.post("/api/v1/datasets", files={"file": ("adh.nex", ADH_NEXUS.read_bytes())},
                      data={"meta": '{"name": "adh"}'}).status_code == 201  # ~10 KB > 2048
    huge = b">a\n" + b"ACGT" * (2 * 1024 * 1024 // 4)
    response = small.post("/api/v1/datasets", files={"file": ("huge.fas", huge)}, data={"meta": '{"name": "h"}'})
    assert response.status_code == 413, response.text
    assert small.get("/api/v1/datasets").json()["datasets"] == [
        d for d in small.get("/api/v1/datasets").json()["datasets"] if d["name"] == "adh"]


@pytest.mark.parametrize("bad_id", ["..", "..%2F..%2Fetc%2Fpasswd", "a.b", "abc%00def", "x" * 65, "%2e%2e"])
@pytest.mark.parametrize("path", ["/api/v1/datasets/{}", "/api/v1/datasets/{}/content", "/api/v1/jobs/{}"])
def test_ids_that_are_not_plain_hashes_are_404_or_422(client, bad_id, path):
    for verb in ("GET", "DELETE"):
        if verb == "DELETE" and path.endswith("/content"):
            continue
        response = client.request(verb, path.format(bad_id))
        assert response.status_code in (404, 422), (verb, path, bad_id, response.status_code, response.text)
        assert response.json()["request_id"]
