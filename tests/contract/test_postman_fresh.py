"""Contract: the checked-in Postman collection is openapi.yaml's, regenerated (`make postman`).

- scripts/postman.py run into a temporary directory writes byte-for-byte the files in postman/
  (and the same bytes twice: the output is deterministic);
- every operationId is one request, with the verb, path, parameters and body the spec declares;
- the collection has Postman v2.1's shape (checked against an embedded subset of the v2.1 JSON
  schema when jsonschema is installed; no network), and the README flow's requests save the ids
  the next requests use;
- each JSON example body is valid for its request schema once the id variables are filled in.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postman.py"
CHECKED_IN = ROOT / "postman"
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
VERBS = ("get", "put", "post", "delete", "patch", "head", "options")
STALE = "postman/{name} is stale: run `make postman`"


def load_generator():
    spec = importlib.util.spec_from_file_location("datamonkey_postman", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


postman = load_generator()
FILES = (postman.COLLECTION_FILE, postman.ENVIRONMENT_FILE)
COLLECTION: dict[str, Any] = json.loads((CHECKED_IN / postman.COLLECTION_FILE).read_text(encoding="utf-8"))
ENVIRONMENT: dict[str, Any] = json.loads((CHECKED_IN / postman.ENVIRONMENT_FILE).read_text(encoding="utf-8"))


def operations() -> dict[str, tuple[str, str, dict]]:
    """operationId → (verb, path, operation) for every operation of openapi.yaml."""
    found = {}
    for path, item in SPEC["paths"].items():
        for verb in VERBS:
            if verb in item:
                found[item[verb]["operationId"]] = (verb, path, item[verb])
    return found


def requests() -> list[dict]:
    return [item for folder in COLLECTION["item"] for item in folder["item"]]


def by_operation() -> dict[str, dict]:
    ids = {postman.stable_id("operation", operation_id): operation_id for operation_id in operations()}
    return {ids[item["id"]]: item for item in requests() if item["id"] in ids}


def script(item: dict) -> str:
    return "\n".join(line for event in item.get("event", []) if event["listen"] == "test"
                     for line in event["script"]["exec"])


# --- freshness ------------------------------------------------------------------------------------

def test_checked_in_files_are_what_the_script_writes(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    for name in FILES:
        checked_in = CHECKED_IN / name
        assert checked_in.exists(), STALE.format(name=name)
        assert (tmp_path / name).read_bytes() == checked_in.read_bytes(), STALE.format(name=name)


def test_generation_is_deterministic():
    assert postman.generate() == postman.generate()


# --- one request per operation ---------------------------------------------------------------------

def test_every_operation_id_is_one_request():
    spec_ids = set(operations())
    described = Counter(
        match for item in requests()
        for match in re.findall(r"operationId `([^`]+)`", item["request"].get("description", ""))
    )
    assert set(described) == spec_ids, (
        f"missing: {sorted(spec_ids - set(described))}, unknown: {sorted(set(described) - spec_ids)}")
    assert [op for op, count in described.items() if count != 1] == []
    assert len(requests()) == len(spec_ids)
    item_ids = Counter(item["id"] for item in requests())
    assert all(count == 1 for count in item_ids.values())
    assert set(item_ids) == {postman.stable_id("operation", op) for op in spec_ids}


def test_one_folder_per_tag_in_spec_order():
    names = [folder["name"] for folder in COLLECTION["item"]]
    assert len(names) == len(set(names))
    tags = {op["tags"][0] for _, _, op in operations().values()}
    assert set(names) == tags
    declared = [tag["name"] for tag in SPEC.get("tags", [])]
    assert names[:len(declared)] == declared
    for folder in COLLECTION["item"]:
        for item in folder["item"]:
            operation_id = re.search(r"operationId `([^`]+)`", item["request"]["description"]).group(1)
            assert operations()[operation_id][2]["tags"][0] == folder["name"]


@pytest.mark.parametrize("operation_id", sorted(operations()))
def test_request_matches_its_operation(operation_id):
    verb, path, operation = operations()[operation_id]
    item = by_operation()[operation_id]
    request = item["request"]
    assert item["name"] == operation.get("summary", operation_id)
    if operation.get("description"):
        assert " ".join(operation["description"].split()) in request["description"]
    assert request["method"] == verb.upper()

    url = request["url"]
    segments = [f":{s[1:-1]}" if s.startswith("{") else s for s in path.strip("/").split("/")]
    assert url["host"] == ["{{baseUrl}}"]
    assert url["path"] == segments
    assert url["raw"].split("?")[0] == "{{baseUrl}}/" + "/".join(segments)

    params = {(p["in"], p["name"]): p for p in postman.operation_parameters(SPEC, SPEC["paths"][path], operation)}
    path_vars = {v["key"]: v for v in url.get("variable", [])}
    assert set(path_vars) == {name for where, name in params if where == "path"}
    assert all(v["value"] for v in path_vars.values()), "every path variable needs a value"
    query = {q["key"]: q for q in url.get("query", [])}
    assert set(query) == {name for where, name in params if where == "query"}
    for name, entry in query.items():
        assert entry["disabled"] is not params[("query", name)].get("required", False), name
    headers = {h["key"]: h for h in request["header"]}
    for (where, name), param in params.items():
        if where == "header":
            assert headers[name]["disabled"] is not param.get("required", False), name
    if ("header", "user_token") in params:
        assert headers["user_token"]["value"] == "{{user_token}}"
    else:
        assert "user_token" not in headers

    content = postman.resolve(SPEC, operation.get("requestBody", {})).get("content", {})
    if "application/json" in content:
        assert request["body"]["mode"] == "raw"
        assert request["body"]["options"]["raw"]["language"] == "json"
        assert headers["Content-Type"]["value"] == "application/json"
        assert isinstance(json.loads(request["body"]["raw"]), dict)
    elif "multipart/form-data" in content:
        assert request["body"]["mode"] == "formdata"
    else:
        assert "body" not in request


# --- the README flow: Upload → fel-start → fel-result ------------------------------------------

def test_upload_is_multipart_meta_and_file_and_saves_the_dataset_id():
    item = by_operation()["PostDataset"]
    fields = {f["key"]: f for f in item["request"]["body"]["formdata"]}
    assert fields["meta"]["type"] == "text" and not fields["meta"].get("disabled")
    assert set(json.loads(fields["meta"]["value"])) == {"name", "type", "description"}
    assert fields["file"]["type"] == "file" and not fields["file"].get("disabled")
    assert 'pm.collectionVariables.set(dataset.format === "newick" ? "treeId" : "alignmentId", dataset.id)' \
        in script(item)


@pytest.mark.parametrize("operation_id", sorted(
    op for op, (_, _, operation) in operations().items() if operation.get("x-datamonkey-action") == "start"))
def test_every_start_saves_the_job_id(operation_id):
    item = by_operation()[operation_id]
    assert 'pm.collectionVariables.set("jobId", body.job_id)' in script(item)
    assert json.loads(item["request"]["body"]["raw"]).get("alignment", "{{alignmentId}}") == "{{alignmentId}}"


def test_result_by_id_uses_the_saved_job_id():
    item = by_operation()["getFELJobById"]
    query = {q["key"]: q for q in item["request"]["url"]["query"]}
    assert query["job_id"] == {"disabled": False, "key": "job_id", "value": "{{jobId}}"}
    assert item["request"]["url"]["raw"] == "{{baseUrl}}/methods/fel-result?job_id={{jobId}}"


def test_variables_and_environment():
    variables = {v["key"]: v["value"] for v in COLLECTION["variable"]}
    assert {"baseUrl", "user_token", "alignmentId", "treeId", "jobId"} <= set(variables)
    values = {v["key"]: v for v in ENVIRONMENT["values"]}
    assert set(values) == {"baseUrl", "user_token"}
    assert values["baseUrl"]["value"] == "http://127.0.0.1:9300" + SPEC["servers"][0]["url"]
    assert values["baseUrl"]["value"] == variables["baseUrl"]
    assert values["user_token"]["value"] == ""
    assert all(v["enabled"] for v in values.values())
    assert ENVIRONMENT["_postman_variable_scope"] == "environment"
    used = set(re.findall(r"\{\{(\w+)\}\}", json.dumps(COLLECTION)))
    assert used <= set(variables), f"undefined variables: {sorted(used - set(variables))}"


def test_json_examples_are_valid_request_bodies():
    jsonschema = pytest.importorskip("jsonschema")
    fills = {"{{alignmentId}}": "a" * 32, "{{treeId}}": "b" * 32}
    for operation_id, (_, _, operation) in operations().items():
        content = postman.resolve(SPEC, operation.get("requestBody", {})).get("content", {})
        if "application/json" not in content:
            continue
        raw = by_operation()[operation_id]["request"]["body"]["raw"]
        for variable, value in fills.items():
            raw = raw.replace(variable, value)
        schema = {**content["application/json"]["schema"], "components": SPEC["components"]}
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(json.loads(raw))]
        assert errors == [], f"{operation_id}: {errors}"


# --- Postman Collection v2.1 shape ----------------------------------------------------------------

def test_basic_structure():
    info = COLLECTION["info"]
    assert info["schema"] == "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    assert info["name"] and uuid.UUID(info["_postman_id"])
    for folder in COLLECTION["item"]:
        assert "request" not in folder and folder["name"] and folder["item"]
        for item in folder["item"]:
            assert "item" not in item
            request = item["request"]
            assert request["method"] in {verb.upper() for verb in VERBS}
            assert request["url"]["raw"].startswith("{{baseUrl}}/")


# The parts of https://schema.getpostman.com/json/collection/v2.1.0/collection.json this collection
# uses (same names, types and enums; the real schema allows more forms of most of them).
DESCRIPTION = {"type": ["string", "null"]}
KEY_VALUE = {
    "type": "object",
    "required": ["key"],
    "properties": {"key": {"type": "string"}, "value": {"type": "string"}, "disabled": {"type": "boolean"},
                   "description": DESCRIPTION},
}
POSTMAN_V21_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["info", "item"],
    "properties": {
        "info": {
            "type": "object",
            "required": ["name", "schema"],
            "properties": {
                "_postman_id": {"type": "string"},
                "name": {"type": "string"},
                "description": DESCRIPTION,
                "version": {"type": "string"},
                "schema": {"type": "string", "format": "uri"},
            },
        },
        "item": {"type": "array", "items": {"$ref": "#/definitions/items"}},
        "event": {"$ref": "#/definitions/event-list"},
        "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
    },
    "definitions": {
        "items": {"oneOf": [{"$ref": "#/definitions/item"}, {"$ref": "#/definitions/item-group"}]},
        "item-group": {
            "type": "object",
            "required": ["item"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "description": DESCRIPTION,
                "item": {"type": "array", "items": {"$ref": "#/definitions/items"}},
                "event": {"$ref": "#/definitions/event-list"},
            },
        },
        "item": {
            "type": "object",
            "required": ["request"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "description": DESCRIPTION,
                "request": {"$ref": "#/definitions/request"},
                "response": {"type": "array"},
                "event": {"$ref": "#/definitions/event-list"},
            },
            "not": {"required": ["item"]},
        },
        "request": {
            "type": "object",
            "required": ["method", "url"],
            "properties": {
                "url": {"$ref": "#/definitions/url"},
                "method": {"type": "string", "enum": [
                    "GET", "PUT", "POST", "PATCH", "DELETE", "COPY", "HEAD", "OPTIONS", "LINK", "UNLINK",
                    "PURGE", "LOCK", "UNLOCK", "PROPFIND", "VIEW"]},
                "description": DESCRIPTION,
                "header": {"type": "array", "items": {**KEY_VALUE, "required": ["key", "value"]}},
                "body": {
                    "type": "object",
                    "properties": {
                        "mode": {"type": "string", "enum": ["raw", "urlencoded", "formdata", "file", "graphql"]},
                        "raw": {"type": "string"},
                        "options": {"type": "object"},
                        "formdata": {"type": "array", "items": {"anyOf": [
                            {**KEY_VALUE, "properties": {**KEY_VALUE["properties"], "type": {"const": "text"}}},
                            {**KEY_VALUE, "properties": {**KEY_VALUE["properties"], "type": {"const": "file"},
                                                         "src": {"type": ["string", "null", "array"]}}},
                        ]}},
                    },
                },
            },
        },
        "url": {
            "type": "object",
            "properties": {
                "raw": {"type": "string"},
                "host": {"type": "array", "items": {"type": "string"}},
                "path": {"type": "array", "items": {"type": "string"}},
                "query": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"key": {"type": ["string", "null"]}, "value": {"type": ["string", "null"]},
                                   "disabled": {"type": "boolean"}, "description": DESCRIPTION},
                }},
                "variable": {"type": "array", "items": {"$ref": "#/definitions/variable"}},
            },
        },
        "variable": {
            "type": "object",
            "anyOf": [{"required": ["id"]}, {"required": ["key"]}],
            "properties": {
                "id": {"type": "string"},
                "key": {"type": "string"},
                "value": {},
                "type": {"type": "string", "enum": ["string", "boolean", "any", "number"]},
                "description": DESCRIPTION,
                "disabled": {"type": "boolean"},
            },
        },
        "event-list": {"type": "array", "items": {
            "type": "object",
            "required": ["listen"],
            "properties": {
                "id": {"type": "string"},
                "listen": {"type": "string"},
                "script": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string"},
                        "exec": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
                    },
                },
            },
        }},
    },
}


def test_collection_validates_against_the_v21_schema_subset():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator.check_schema(POSTMAN_V21_SUBSET)
    errors = sorted(jsonschema.Draft7Validator(POSTMAN_V21_SUBSET).iter_errors(COLLECTION),
                    key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]] == []
