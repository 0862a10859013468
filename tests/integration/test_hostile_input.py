"""Hostile input is data: every string field of every operation gets each payload below.

The app runs with the real LocalScheduler, whose HyPhy is a stub (a Python script that records its
argv and exits), so any request that validation lets through really launches a job. Asserted: no
5xx; nothing executed (no payload's canary file ever appears); no file written outside the data
directories; no launched command carries a payload (every option is validated against its type,
enum or the tree's labels first). The quoting of raw payloads themselves is tested where commands
are built: the Slurm batch script (tests/unit/test_slurm_rest_script.py) runs them through bash.

Header fields get only the payloads an HTTP client can put in a header (printable ASCII), and URL
parts at most 8000 characters of each: longer or other values never reach the server.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from service.api.spec import load_spec
from tests.conftest import ADH_NEXUS, upload_id
from tests.payloads import payloads
from tests.integration.helpers import INTEGRATION

pytestmark = INTEGRATION

CANARY_DIR = Path("/tmp")
CANARY = "dm-hostile-canary"


def header_safe(value: str) -> bool:
    return value.strip() == value and all(32 <= ord(c) < 127 for c in value) and len(value) < 8000


@pytest.fixture
def stub_hyphy(tmp_path) -> Path:
    """A 'HyPhy' that records its argv (one JSON line per launch) and exits 0."""
    log = tmp_path / "launches.jsonl"
    stub = tmp_path / "hyphy-stub"
    stub.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n")
    stub.chmod(0o755)
    return stub


@pytest.fixture
def hostile_app(make_app, stub_hyphy):
    return make_app(HYPHY_BINARY=str(stub_hyphy), LOCAL_MAX_CONCURRENT_JOBS=2)


def string_fields(spec: dict) -> list[tuple[str, str, str, str]]:
    """(verb, path, location, name) for every string-typed parameter and JSON body property."""
    components = spec["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def takes_text(schema: dict) -> bool:
        schema = resolve(schema)
        options = schema.get("oneOf") or schema.get("anyOf") or [schema]
        return any(resolve(o).get("type") == "string" or
                   (resolve(o).get("type") == "array" and takes_text(resolve(o).get("items", {})))
                   for o in options)

    fields = []
    for path, item in spec["paths"].items():
        for verb, op in item.items():
            if verb not in ("get", "post", "put", "patch", "delete"):
                continue
            for param in op.get("parameters", []):
                if "$ref" in param:
                    param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
                if takes_text(param.get("schema", {})):
                    fields.append((verb, path, param["in"], param["name"]))
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = resolve(content["application/json"]["schema"])
                props = {k: v for part in body.get("allOf", [body]) for k, v in resolve(part).get("properties", {}).items()}
                fields += [(verb, path, "body", name) for name, schema in props.items() if takes_text(schema)]
            if "multipart/form-data" in content:
                fields += [(verb, path, "meta", name) for name in ("name", "description", "type")]
                fields += [(verb, path, "form", "user_token"), (verb, path, "filename", "file")]
    return fields


def send(client, verb: str, path: str, location: str, name: str, value: str, ids: dict[str, str]):
    url = "/api/v1" + path.replace("{datasetId}", ids["dataset"]).replace("{jobId}", ids["job"])
    body = {"alignment": ids["dataset"]} if verb == "post" and path.startswith("/methods/") else None
    headers, params = {}, {}
    if location in ("path", "query"):
        value = value[:8000]  # HTTP clients refuse longer URLs; the full length goes into bodies
    if location == "path":
        url = "/api/v1" + path.replace("{datasetId}", value).replace("{jobId}", value)
    elif location == "query":
        params[name] = value
    elif location == "header":
        if not header_safe(value):
            return None
        headers[name] = value
    elif location == "body":
        body = {**(body or {}), name: value}
    if location in ("meta", "form", "filename"):
        meta = {"name": "n", "description": "d", "type": "t"}
        data = {"meta": json.dumps({**meta, name: value}) if location == "meta" else json.dumps(meta)}
        if location == "form":
            data["user_token"] = value
        filename = value if location == "filename" else "adh.nex"
        return client.post(url, data=data, files={"file": (filename, ADH_NEXUS.read_bytes())})
    if "/" in value or "?" in value or "#" in value:
        url = url.replace(value, value.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23"))
    return client.request(verb.upper(), url, params=params, headers=headers, json=body)


def files_outside(root: Path, allowed: list[Path]) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not any(a in p.parents for a in allowed)}


def test_every_payload_in_every_string_field_is_harmless(hostile_app, stub_hyphy, tmp_path, settings_overrides):
    client = hostile_app.test_client()
    canary = CANARY_DIR / f"{CANARY}-{os.getpid()}"
    canary.unlink(missing_ok=True)
    ids = {"dataset": upload_id(client, ADH_NEXUS)}
    ids["job"] = client.post("/api/v1/methods/fel-start", json={"alignment": ids["dataset"]}).json()["job_id"]
    stores = [Path(v) for k, v in settings_overrides.items() if k.endswith("_LOCATION")]
    before = files_outside(tmp_path, stores)

    fields = string_fields(load_spec())
    assert len({(v, p) for v, p, _, _ in fields}) >= 50 and len(payloads(str(canary))) >= 30
    server_errors, sent = [], 0
    for verb, path, location, name in fields:
        for value in payloads(str(canary)):
            response = send(client, verb, path, location, name, value, ids)
            if response is None:
                continue
            sent += 1
            if response.status_code >= 500 and response.status_code != 501:
                server_errors.append((verb, path, location, name, value[:40], response.status_code, response.text[:200]))
    assert server_errors == []

    time.sleep(1.0)  # let the last launched stubs run
    assert not canary.exists(), "a payload was executed"
    assert not Path("/tmp/dm-hostile-dotdot").exists()
    new_files = files_outside(tmp_path, stores) - before - {tmp_path / "launches.jsonl"}
    assert new_files == set(), f"files written outside the data directories: {sorted(new_files)[:10]}"
    launches = [json.loads(line) for line in (tmp_path / "launches.jsonl").read_text().splitlines()]
    # Besides jobs, the service runs the stub once as `--version`/`[NAME] --help` to learn what it offers.
    jobs = [argv for argv in launches if argv[-1] not in ("--version", "--help")]
    assert jobs and all(argv[1].startswith("CPU=") for argv in jobs)
    assert not any(CANARY in word or "dm-hostile" in word for argv in launches for word in argv)
    print(f"hostile input: {len(payloads(str(canary)))} payloads, {len(fields)} fields, {sent} requests, "
          f"{len(launches)} stub launches, 0 server errors")
