"""What clients generated from the upstream specs (v1.0.0, v1.2.0) and the Go service's own
clients send and read, found by running them against this service (issue 12 item 6):

- a body the specs allow (no `additionalProperties: false`) is not refused for a field this
  method has no option for when ignoring it is harmless (`Warning: 299`), and `pvalue` is the
  job's report threshold;
- the upload answers a top-level `id` (Go service) beside `datasets` (both specs);
- `Authorization: Bearer <token>` is a user token, in every mode;
- an unknown dataset id on `*-start` is a 422 naming the field (v1.0.0 declares no 404 there);
- `X-Session-Token` keeps its casing over a real uvicorn socket.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import ADH_NEXUS, upload, upload_id
from tests.crash.server import free_port
from tests.unit.helpers import error_fields, start, start_ok

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path("/work/shared/reference")
V12 = REFERENCE / "api-datamonkey.veg.openapi.yaml"
RESULTS = REPO / "tests" / "fixtures" / "results"
TOKEN = "tok-" + "a" * 28
WARNING = re.compile(r'^299 - "[^"\\]+"(, 299 - "[^"\\]+")*$')


def warnings_of(response) -> str:
    value = response.headers.get("Warning", "")
    assert WARNING.match(value), value
    return value


# -- 1. fields a method has no option for -------------------------------------------------------
def test_pvalue_sent_to_fel_starts_the_job_and_is_recorded_in_its_options(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id, "pvalue": 0.1})
    details = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert details["options"]["pvalue"] == 0.1
    assert fake.submitted[job["job_id"]].argv[-4:-2] == ["--pvalue", "0.1"]


def test_pvalue_at_its_default_is_the_same_request_as_none(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})
    assert start_ok(client, "fel", {"alignment": adh_id, "pvalue": 0.1})["job_id"] == first["job_id"]
    other = start_ok(client, "fel", {"alignment": adh_id, "pvalue": 0.05})
    assert other["job_id"] != first["job_id"]
    assert start_ok(client, "fel", {"alignment": adh_id, "pvalue": 0.05})["job_id"] == other["job_id"]


def test_pvalue_is_the_threshold_of_the_jobs_report(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id, "pvalue": 0.3})
    fake.finish(job["job_id"], result=json.loads((RESULTS / "fel.json").read_text()))
    page = client.get(f"/api/v1/jobs/{job['job_id']}/report")
    assert page.status_code == 200, page.text
    assert "sites under pervasive positive diversifying selection at p ≤ 0.3" in page.text


@pytest.mark.parametrize("method_id", ["absrel", "busted", "relax"])
def test_pvalue_sets_the_gene_and_branch_level_verdicts(method_id):
    from service.reports.extract import build_report

    result = json.loads((RESULTS / f"{method_id}.json").read_text())
    headlines = " ".join(build_report(method_id, {"options": {"pvalue": 0.9}}, result).headlines)
    assert "p ≤ 0.9" in headlines and "0.05" not in headlines
    default = " ".join(build_report(method_id, {"options": {}}, result).headlines)
    assert "p ≤ 0.05" in default


def test_pvalue_on_a_method_without_a_p_value_threshold_is_ignored_with_a_warning(client, fake, adh_id):
    response = start(client, "fubar", {"alignment": adh_id, "pvalue": 0.2})
    assert response.status_code == 200, response.text
    assert "pvalue" in warnings_of(response)
    details = client.get(f"/api/v1/jobs/{response.json()['job_id']}").json()
    assert "pvalue" not in details["options"]
    # the same job as without it, and the result poll with the same body finds it (and warns too)
    assert start_ok(client, "fubar", {"alignment": adh_id})["job_id"] == response.json()["job_id"]
    poll = client.post("/api/v1/methods/fubar-result", json={"alignment": adh_id, "pvalue": 0.2})
    assert poll.status_code == 200 and "pvalue" in warnings_of(poll)


def test_contrast_fel_reads_pvalue_as_its_p_value(client, fake, services):
    from tests.unit.helpers import LABELLED_TREE

    alignment = upload_id(client, ADH_NEXUS, name="adh")
    tree = upload_id(client, LABELLED_TREE, name="tree")
    body = {"alignment": alignment, "tree": tree, "branch_sets": ["Test"]}
    job = start_ok(client, "contrast-fel", {**body, "pvalue": 0.01})
    assert client.get(f"/api/v1/jobs/{job['job_id']}").json()["options"]["p_value"] == 0.01
    assert error_fields(start(client, "contrast-fel", {**body, "pvalue": 0.01, "p_value": 0.02})) == ["pvalue"]


def test_another_methods_option_at_its_default_is_ignored_with_a_warning(client, fake, adh_id):
    # a client sending one generic body (FEL's v1.0.0 fields) to every method
    response = start(client, "slac", {"alignment": adh_id, "ci": False, "srv": True, "resample": 0})
    assert response.status_code == 200, response.text
    text = warnings_of(response)
    assert all(name in text for name in ("ci", "srv", "resample"))
    assert start(client, "fel", {"alignment": adh_id}).headers.get("Warning") is None


def test_another_methods_option_that_would_change_the_analysis_is_refused(client, fake, adh_id):
    response = start(client, "slac", {"alignment": adh_id, "resample": 100, "ci": "Yes"})
    assert sorted(error_fields(response)) == ["ci", "resample"]
    assert "not an option of slac" in response.json()["errors"][0]["message"]


def test_another_methods_number_too_large_for_a_float_is_a_422(client, fake, adh_id):
    response = client.post("/api/v1/methods/slac-start", content=b'{"alignment": "%s", "resample": 1%s}'
                           % (adh_id.encode(), b"0" * 400), headers={"content-type": "application/json"})
    assert error_fields(response) == ["resample"]


def test_a_field_no_method_has_is_still_refused(client, fake, adh_id):
    response = start(client, "fel", {"alignment": adh_id, "resampel": 100})
    assert error_fields(response) == ["resampel"]


def test_options_hyphy_lacks_still_refuse_a_value_other_than_the_default(client, fake, adh_id):
    assert error_fields(start(client, "fel", {"alignment": adh_id, "multiple_hits": "Double"})) == ["multiple_hits"]


# -- 2. upload ------------------------------------------------------------------------------------
def test_upload_answers_a_top_level_id_beside_datasets(client):
    response = upload(client, ADH_NEXUS, name="adh")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == body["datasets"][0]["id"]


# -- 3. Authorization: Bearer ---------------------------------------------------------------------
def test_bearer_token_is_the_user_token(client, fake):
    dataset = upload_id(client, ADH_NEXUS, token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get(f"/api/v1/datasets/{dataset}", headers=bearer).status_code == 200
    assert client.get(f"/api/v1/datasets/{dataset}").status_code == 401  # anonymous
    job = client.post("/api/v1/methods/fel-start", json={"alignment": dataset}, headers=bearer)
    assert job.status_code == 200, job.text
    assert client.get(f"/api/v1/jobs/{job.json()['job_id']}", headers={"user_token": TOKEN}).status_code == 200


def test_bearer_token_is_accepted_when_the_server_is_locked_down(make_app):
    client = make_app(SERVICE_API_TOKENS=TOKEN).test_client()
    assert client.get("/api/v1/datasets").status_code == 401
    assert client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/api/v1/datasets", headers={"Authorization": "Bearer wrong-token-0000000"}).status_code == 401
    # another scheme is not a user token
    assert client.get("/api/v1/datasets", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_bearer_token_opens_no_session_in_auto_mode(make_app):
    client = make_app(SESSION_MODE="auto").test_client()
    opened = upload(client, ADH_NEXUS)
    token = opened.headers["X-Session-Token"]
    assert client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {token}"}).json()["datasets"]
    assert client.get("/api/v1/datasets", headers={"Authorization": "Bearer not-issued-000000"}).status_code == 401


# -- 4. statuses v1.0.0 declares ------------------------------------------------------------------
def test_unknown_alignment_on_start_is_a_422_naming_alignment(client, fake):
    response = start(client, "fel", {"alignment": "f" * 32})
    assert error_fields(response) == ["alignment"]
    assert "f" * 32 in response.json()["errors"][0]["message"]


def test_unknown_alignment_and_tree_on_start_are_both_named(client, fake):
    response = start(client, "slac", {"alignment_file": "a" * 32, "tree": "b" * 32})
    assert sorted(error_fields(response)) == ["alignment", "tree"]


def v12_schema(name: str) -> dict:
    spec = yaml.safe_load(V12.read_text())
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


def test_result_before_any_job_is_upstreams_not_found_error(client, fake, adh_id):
    response = client.post("/api/v1/methods/fel-result", json={"alignment": adh_id})
    assert response.status_code == 404
    jsonschema.validate(response.json(), v12_schema("NotFoundError"))
    by_id = client.get("/api/v1/methods/fel-result", params={"job_id": "abc123"})
    assert by_id.status_code == 404
    jsonschema.validate(by_id.json(), v12_schema("NotFoundError"))
    # an unknown dataset on a result poll stays a 404 (v1.2.0's status there)
    assert client.post("/api/v1/methods/fel-result", json={"alignment": "f" * 32}).status_code == 404


@pytest.mark.parametrize("method_id", ["nrm", "slatkin"])
def test_methods_hyphy_lacks_declare_the_501_they_answer(client, fake, adh_id, method_id):
    from service.api.spec import load_spec

    paths = load_spec()["paths"]
    requests = [("post", f"/methods/{method_id}-start", {"json": {"alignment": adh_id}}),
                ("post", f"/methods/{method_id}-result", {"json": {"alignment": adh_id}}),
                ("get", f"/methods/{method_id}-result", {"params": {"job_id": "abc123"}})]
    for verb, path, kwargs in requests:
        response = getattr(client, verb)(f"/api/v1{path}", **kwargs)
        assert str(response.status_code) in paths[path][verb]["responses"], (verb, path, response.status_code)


# -- 5. X-Session-Token casing on the wire ---------------------------------------------------------
def raw_upload(port: int) -> bytes:
    """POST /datasets over a plain socket; the response head exactly as the server wrote it."""
    boundary = "b0undary"
    content = ADH_NEXUS.read_bytes()
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n'
            '{"name": "adh", "type": "nexus", "description": "casing"}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="adh.nex"\r\n\r\n'
            ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /api/v1/datasets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n\r\n")[0]


def test_x_session_token_keeps_its_casing_over_a_real_uvicorn_socket(tmp_path):
    from tests.conftest import store_settings

    port = free_port()
    env = {**os.environ, **store_settings(tmp_path), "SESSION_MODE": "auto", "SERVICE_HOST": "127.0.0.1",
           "SERVICE_DATAMONKEY_PORT": str(port), "SERVICE_API_TOKENS": "", "SERVICE_API_TOKENS_FILE": ""}
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO, env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        head = raw_upload(port).decode("latin-1").split("\r\n")
        assert head[0] == "HTTP/1.1 201 Created", head
        names = [line.split(":", 1)[0] for line in head[1:]]
        assert "X-Session-Token" in names and "X-Request-ID" in names, names
    finally:
        server.terminate()
        server.wait(timeout=30)
