"""Errors the frameworks produce themselves (Connexion, Starlette, Flask/Werkzeug, the ASGI bridge)
use upstream api-datamonkey's shapes too, carry the request id, show no stack trace, and are
declared in openapi.yaml for the operation that answers them.

One representative operation per class: a JSON body (POST /methods/fel-start), the multipart
upload (POST /datasets), query / path / header parameters (GET /jobs, GET /jobs/{jobId}).
"""

from __future__ import annotations

import json

import pytest

from service.api.spec import load_spec
from tests.conftest import ADH_NEXUS

API = "/api/v1"
JSON = {"content-type": "application/json"}
FEL = f"{API}/methods/fel-start"

#: Upstream's shapes (required keys) by status; any other 4xx uses NotFoundError's.
SHAPES = {401: {"code", "message"}, 403: {"code", "message"}, 422: {"errors"}}
TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages", "Error(")


def declared_statuses(path: str, verb: str) -> set[int]:
    operation = load_spec()["paths"][path][verb]
    return {int(code) for code in operation["responses"]}


def assert_upstream_error(response, status: int, operation: tuple[str, str] | None = None) -> dict:
    """The body is upstream's shape for `status`, with request_id = X-Request-ID and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    shape = SHAPES.get(status, {"error", "code", "details"} if status >= 500 else {"error", "status"})
    assert shape <= set(body), body
    assert body["request_id"] == response.headers["X-Request-ID"] and len(body["request_id"]) == 32
    assert not any(marker in response.text for marker in TRACEBACK_MARKERS), response.text
    if status == 422:
        assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"]), body
    elif status < 500 and status not in SHAPES:
        assert body["status"] == status
    if operation is not None:
        assert status in declared_statuses(*operation), f"{status} not declared for {operation}"
    return body


@pytest.fixture
def limited(make_app):
    return make_app(REQUEST_MAX_BYTES=4096, DATASET_MAX_BYTES=16 * 1024).test_client(raise_server_exceptions=False)


def chunked(data: bytes, size: int = 7):
    """A body without Content-Length: httpx sends a generator with Transfer-Encoding: chunked."""
    def chunks():
        for start in range(0, len(data), size):
            yield data[start:start + size]
    return chunks()


# -- routing (Starlette / Connexion) ----------------------------------------------------------
@pytest.mark.parametrize("path", [f"{API}/no/such/endpoint", "/nothing-here", f"{API}/methods/nope-start", "/"])
def test_unknown_path_is_404(client, path):
    body = assert_upstream_error(client.get(path), 404)
    assert body["error"] == "Not found: no such endpoint"


@pytest.mark.parametrize("verb,path", [("get", "/jobs/a%0Ab"), ("delete", "/datasets/ab%0A"),
                                       ("get", "/datasets/a%0Ab/content"), ("get", "/jobs/%7F"), ("get", "/jobs/a%00b")])
def test_path_with_a_control_character_is_404_not_a_crash(client, verb, path):
    """Connexion's mount pattern stops at a newline: the request reached Flask unrouted (500)."""
    assert_upstream_error(client.request(verb.upper(), f"{API}{path}"), 404)


@pytest.mark.parametrize("verb,path", [("put", "/datasets"), ("patch", "/health"), ("delete", "/methods"),
                                       ("get", "/methods/fel-start"), ("put", "/jobs/abc")])
def test_wrong_method_is_405(client, verb, path):
    response = client.request(verb.upper(), f"{API}{path}")
    assert_upstream_error(response, 405)
    assert "Allow" in response.headers


# -- body size ----------------------------------------------------------------------------------
def test_json_body_over_the_limit_is_413(limited):
    big = json.dumps({"alignment": "a" * 8000}).encode()
    assert_upstream_error(limited.post(FEL, content=big, headers=JSON), 413, ("/methods/fel-start", "post"))
    assert_upstream_error(limited.post(FEL, content=chunked(big, 1000), headers=JSON), 413)


def test_upload_over_the_limit_is_413(limited):
    too_big = b">a\n" + b"ACGT" * 8 * 1024
    response = limited.post(f"{API}/datasets", files={"file": ("big.fas", too_big)}, data={"meta": "{}"})
    assert_upstream_error(response, 413, ("/datasets", "post"))
    huge = b"A" * (2 * 1024 * 1024)  # beyond the multipart allowance: refused before it is read
    response = limited.post(f"{API}/datasets", files={"file": ("huge.fas", huge)}, data={"meta": "{}"})
    assert_upstream_error(response, 413, ("/datasets", "post"))


# -- media type -------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "application/vnd.example+json", "%%%"])
def test_json_operation_with_another_content_type_is_415(client, content_type):
    response = client.post(FEL, content=b'{"alignment": "a"}', headers={"content-type": content_type})
    assert_upstream_error(response, 415, ("/methods/fel-start", "post"))
    assert_upstream_error(client.post(f"{API}/methods/fel-result", content=b"{}",
                                      headers={"content-type": content_type}), 415, ("/methods/fel-result", "post"))


def test_upload_with_a_json_body_is_415(client):
    assert_upstream_error(client.post(f"{API}/datasets", json={"file": "ACGT"}), 415, ("/datasets", "post"))


def test_json_body_without_content_type_is_read_as_json_not_a_500(client):
    """Connexion validates a body without Content-Type as JSON; the handler used to get bytes (500)."""
    response = client.post(FEL, content=b'{"ci": "Perhaps"}')
    body = assert_upstream_error(response, 422, ("/methods/fel-start", "post"))
    assert {e["field"] for e in body["errors"]} == {"ci"}
    body = assert_upstream_error(client.post(FEL, content=b'{"tree": "x"}'), 422)
    assert body["errors"][0]["field"] == "alignment"  # parsed and handled, not a crash


# -- malformed JSON bodies --------------------------------------------------------------------
@pytest.mark.parametrize("raw,message", [
    (b"{", "malformed JSON"),
    (b'{"alignment": "a",}', "malformed JSON"),
    (b'{"alignment": "\xff"}', "malformed JSON"),
    (b"\xef\xbb\xbf{}", "malformed JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (b'{"genetic_code": ' + b'{"value": ' * 500 + b'"Universal"' + b"}" * 500 + b"}", "nested deeper"),
    (b"", "request body is required"),
    (b"null", "request body is required"),
])
def test_malformed_json_body_is_422_on_body(client, raw, message):
    body = assert_upstream_error(client.post(FEL, content=raw, headers=JSON), 422, ("/methods/fel-start", "post"))
    assert body["errors"][0]["field"] == "body" and message in body["errors"][0]["message"], body


def test_json_body_of_the_wrong_type_is_422(client):
    body = assert_upstream_error(client.post(FEL, content=b"[1, 2]", headers=JSON), 422)
    assert body["errors"] == [{"field": "body", "message": "[1, 2] is not of type 'object'"}]


def test_a_huge_bad_value_is_not_echoed_whole(client):
    body = assert_upstream_error(client.post(FEL, json={"ci": "x" * 50_000}), 422)
    assert all(len(e["message"]) <= 300 for e in body["errors"]), body


def test_chunked_json_body_is_read_not_refused_as_missing(client):
    """Without Content-Length Connexion took the body as absent ("RequestBody is required")."""
    body = assert_upstream_error(client.post(FEL, content=chunked(b'{"ci": "Perhaps"}'), headers=JSON), 422)
    assert {e["field"] for e in body["errors"]} == {"ci"}
    dataset = client.post(f"{API}/datasets", files={"file": ("adh.nex", ADH_NEXUS.read_bytes())},
                          data={"meta": "{}"}).json()["datasets"][0]["id"]
    response = client.post(f"{API}/methods/fel-result", content=chunked(json.dumps({"alignment": dataset}).encode()),
                           headers=JSON)
    assert_upstream_error(response, 404, ("/methods/fel-result", "post"))  # read: no such job yet


# -- malformed multipart (the upload) ---------------------------------------------------------
@pytest.mark.parametrize("content_type,raw,message", [
    ("multipart/form-data", b"--x\r\n\r\nACGT", "without a boundary"),
    ("multipart/form-data; boundary=zz", b"garbage, not a form", "no form part could be read"),
    ("multipart/form-data; boundary=zz",
     b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nACGT', "no form part could be read"),
    ("multipart/form-data; boundary=zz", b"", "required"),
])
def test_malformed_multipart_is_422(client, content_type, raw, message):
    response = client.post(f"{API}/datasets", content=raw, headers={"content-type": content_type})
    body = assert_upstream_error(response, 422, ("/datasets", "post"))
    assert message in body["errors"][0]["message"], body


def test_malformed_meta_part_is_422_on_meta(client):
    response = client.post(f"{API}/datasets", files={"file": ("a.fas", b">a\nACGT\n")}, data={"meta": "{"})
    body = assert_upstream_error(response, 422, ("/datasets", "post"))
    assert body["errors"][0]["field"] == "meta"


def test_chunked_upload_is_read(client):
    """Werkzeug read nothing from a body without Content-Length: the upload was 'file required'."""
    boundary = "fuzzboundary"
    form = (f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n{{"name": "adh"}}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="adh.nex"\r\n\r\n').encode()
    form += ADH_NEXUS.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    response = client.post(f"{API}/datasets", content=chunked(form, 4096),
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 201, response.text
    assert response.json()["datasets"][0]["name"] == "adh"


# -- conditional and range requests (Werkzeug's send_file: the dataset download) -------------
@pytest.fixture
def content_url(client):
    dataset = client.post(f"{API}/datasets", files={"file": ("adh.nex", ADH_NEXUS.read_bytes())},
                          data={"meta": "{}"}).json()["datasets"][0]["id"]
    return f"{API}/datasets/{dataset}/content"


CONTENT = ("/datasets/{datasetId}/content", "get")


@pytest.mark.parametrize("range_header", ["bytes=999999-", "rows=1-2"])
def test_unsatisfiable_range_is_416(client, content_url, range_header):
    assert_upstream_error(client.get(content_url, headers={"Range": range_header}), 416, CONTENT)


def test_failed_if_match_is_412_without_the_file(client, content_url):
    """Werkzeug answered 412 with the whole file as its body."""
    body = assert_upstream_error(client.get(content_url, headers={"If-Match": '"another"'}), 412, CONTENT)
    assert "NEXUS" not in json.dumps(body)


def test_range_and_not_modified_answers_are_declared(client, content_url):
    partial = client.get(content_url, headers={"Range": "bytes=0-5"})
    assert partial.status_code == 206 and partial.text == "#NEXUS"
    etag = client.get(content_url).headers["ETag"]
    assert client.get(content_url, headers={"If-None-Match": etag}).status_code == 304
    assert {206, 304} <= declared_statuses(*CONTENT)


# -- parameters (query, path, header) ---------------------------------------------------------
@pytest.mark.parametrize("path,params,field", [
    ("/health", {"pretty_print": "maybe"}, "pretty_print"),
    ("/methods", {"pretty_print": "2"}, "pretty_print"),
    ("/methods", {"unknown": "1"}, "unknown"),
    ("/datasets", {"pretty_print": "null"}, "pretty_print"),
    ("/jobs", {"status": "finished"}, "status"),
    ("/jobs", {"alignment_id": "not a hash!"}, "alignment_id"),
    ("/jobs", {"": "x"}, ""),
    ("/methods/fel-result", {}, "job_id"),
    ("/methods/fel-result", {"job_id": "a/b"}, "job_id"),
])
def test_bad_query_parameter_is_422_naming_it(client, path, params, field):
    body = assert_upstream_error(client.get(f"{API}{path}", params=params), 422, (path, "get"))
    assert field in {e["field"] for e in body["errors"]}, body


def test_bad_path_parameter_is_422_naming_it(client):
    body = assert_upstream_error(client.get(f"{API}/jobs/{'x' * 65}"), 422, ("/jobs/{jobId}", "get"))
    assert body["errors"][0]["field"] == "jobId"


def test_bad_header_is_422_without_echoing_it(client):
    secret = "s3cret-" * 100
    response = client.get(f"{API}/jobs", headers={"user_token": secret})
    body = assert_upstream_error(response, 422, ("/jobs", "get"))
    assert body["errors"][0]["field"] == "user_token" and "s3cret" not in response.text


def test_pretty_printed_errors_keep_the_shape(client):
    response = client.get(f"{API}/jobs/{'c' * 32}", params={"pretty_print": "true"})
    assert response.text.startswith("{\n")
    assert_upstream_error(response, 404, ("/jobs/{jobId}", "get"))


# -- the spec declares what the frameworks answer ---------------------------------------------
def test_every_operation_declares_the_errors_the_frameworks_can_answer():
    """422 (strict query validation: any operation), 500 (any), and 413 + 415 for request bodies."""
    missing = []
    for path, item in load_spec()["paths"].items():
        for verb, operation in item.items():
            if verb not in ("get", "post", "put", "patch", "delete"):
                continue
            needed = {422, 500} | ({413, 415} if "requestBody" in operation else set())
            gaps = needed - {int(code) for code in operation["responses"]}
            if gaps:
                missing.append(f"{verb.upper()} {path}: {sorted(gaps)}")
    assert not missing, missing


def test_a_failing_scheduler_health_check_is_an_unhealthy_503_in_the_health_shape(make_app):
    """/health declares 500/503 as `Health`: a crash in the check must not become a ServerError body."""
    from tests.unit.fakes import FakeScheduler

    class Broken(FakeScheduler):
        def health(self):
            raise RuntimeError("secret detail")

    client = make_app(scheduler=Broken()).test_client()
    response = client.get(f"{API}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["details"]["job_scheduler"] == "unhealthy"
    assert "RuntimeError" in body["reasons"]["job_scheduler"] and "secret" not in response.text


def test_deeply_nested_meta_json_is_a_422_on_meta(client):
    meta = '{"name":' + "[" * 990 + "]" * 990 + "}"
    response = client.post("/api/v1/datasets", data={"meta": meta},
                           files={"file": ("a.fas", b">a\nATG\n>b\nATG\n>c\nATG\n")})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["meta"]
