#!/usr/bin/env python3
"""Generate the Postman collection and environment from openapi.yaml (`make postman`).

Writes, into postman/ (or --out DIR):
  datamonkey.postman_collection.json   Postman Collection v2.1: one folder per tag, one request
                                       per operation, example bodies built from the request schemas
  datamonkey.postman_environment.json  the variables a user sets: baseUrl, user_token

The output is a pure function of openapi.yaml (sorted keys, ids derived from operationIds with
uuid5, no timestamps), so regenerating it is byte-stable; tests/contract/test_postman_fresh.py
fails when the checked-in files are stale. Standard library + PyYAML only.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "openapi.yaml"
OUT_DIR = ROOT / "postman"
COLLECTION_FILE = "datamonkey.postman_collection.json"
ENVIRONMENT_FILE = "datamonkey.postman_environment.json"
SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
SERVER_ORIGIN = "http://127.0.0.1:9300"  # `make run`'s default; the path comes from the spec's servers
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:datamonkey:postman")
VERBS = ("get", "put", "post", "delete", "patch", "head", "options")

# The README's example upload: HyPhy's shipped ADH alignment (NEXUS with an embedded tree).
EXAMPLE_FILE = "/usr/share/hyphy/TemplateBatchFiles/Miscellaneous/phylohandbook/datasets/Drosophilia_adh.nex"
EXAMPLE_META = {"name": "adh", "type": "nexus", "description": "Drosophila adh"}

# Values that point at what earlier requests saved (the test scripts below fill them in).
PARAMETER_VALUES = {
    "datasetId": "{{alignmentId}}",
    "jobId": "{{jobId}}",
    "job_id": "{{jobId}}",
    "alignment_id": "{{alignmentId}}",
    "tree_id": "{{treeId}}",
    "user_token": "{{user_token}}",
}
# Body fields that name datasets; `alignment_file` (v1.0.0's name of `alignment`) and the body
# `user_token` (the header is the way to send it) are left out of the examples.
BODY_VALUES = {"alignment": "{{alignmentId}}", "tree": "{{treeId}}"}
BODY_SKIPPED = {"alignment_file", "user_token"}
COLLECTION_VARIABLES = {
    "alignmentId": "Dataset id of the alignment (set by the upload request)",
    "treeId": "Dataset id of an uploaded Newick tree (set by the upload request for a tree)",
    "jobId": "Job id (set by every *-start request)",
}

UPLOAD_SCRIPT = [
    "// Saves the stored dataset's id for the requests that follow: a Newick tree into treeId,",
    "// anything else into alignmentId.",
    'pm.test("dataset stored (201)", function () {',
    "    pm.response.to.have.status(201);",
    "});",
    "var body = {};",
    "try { body = pm.response.json(); } catch (e) {}",
    "var dataset = (body.datasets || [])[0];",
    "if (dataset && dataset.id) {",
    '    pm.collectionVariables.set(dataset.format === "newick" ? "treeId" : "alignmentId", dataset.id);',
    "}",
]
START_SCRIPT = [
    "// Saves the job id for the *-result and /jobs requests.",
    'pm.test("job accepted (200)", function () {',
    "    pm.response.to.have.status(200);",
    "});",
    "var body = {};",
    "try { body = pm.response.json(); } catch (e) {}",
    "if (body.job_id) {",
    '    pm.collectionVariables.set("jobId", body.job_id);',
    "}",
]
RESULT_SCRIPT = [
    "// The job's status; send again until it is completed (HyPhy's JSON is then under `result`).",
    "var body = {};",
    "try { body = pm.response.json(); } catch (e) {}",
    'pm.test("job status: " + body.status, function () {',
    "    pm.response.to.have.status(200);",
    "});",
]


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def resolve(spec: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def merged(spec: dict, schema: Any) -> dict:
    """A schema with its `$ref` and `allOf` folded in (the outer keywords win, e.g. `default`)."""
    schema = resolve(spec, schema) or {}
    result: dict = {}
    for part in schema.get("allOf", []):
        sub = merged(spec, part)
        properties = {**result.get("properties", {}), **sub.get("properties", {})}
        required = result.get("required", []) + sub.get("required", [])
        result.update(sub)
        if properties:
            result["properties"] = properties
        if required:
            result["required"] = required
    result.update({key: value for key, value in schema.items() if key != "allOf"})
    return result


def placeholder(spec: dict, schema: dict) -> Any:
    """A value for a required field without a default."""
    schema = merged(spec, schema)
    if "default" in schema:
        return schema["default"]
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "oneOf" in schema:
        return placeholder(spec, schema["oneOf"][0])
    kind = schema.get("type")
    if kind == "object":
        return example_body(spec, schema)
    return {"array": [], "integer": 0, "number": 0, "boolean": False}.get(kind, "")


def example_body(spec: dict, schema: Any) -> dict:
    """Required fields and every field with a default; dataset ids as {{alignmentId}}/{{treeId}}.

    `tree` is left out when the schema also takes an alignment: an alignment with an embedded
    tree needs none, and an empty {{treeId}} would be refused.
    """
    schema = merged(spec, schema)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    body: dict = {}
    for name, prop in properties.items():
        if name in BODY_SKIPPED and name not in required:
            continue
        if name in BODY_VALUES:
            if name == "tree" and "alignment" in properties and name not in required:
                continue
            body[name] = BODY_VALUES[name]
            continue
        prop = merged(spec, prop)
        if "default" in prop:
            body[name] = prop["default"]
        elif name in required:
            body[name] = placeholder(spec, prop)
    return body


def text(value: Any) -> str:
    """A parameter value as Postman holds it (strings; JSON spelling for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parameter_value(spec: dict, parameter: dict) -> str:
    if parameter["name"] in PARAMETER_VALUES:
        return PARAMETER_VALUES[parameter["name"]]
    schema = merged(spec, parameter.get("schema", {}))
    if schema.get("type") == "boolean":
        return "true"  # the value worth enabling an optional flag for
    if "default" in schema:
        return text(schema["default"])
    if schema.get("enum"):
        return text(schema["enum"][0])
    return ""


def with_description(entry: dict, description: str | None) -> dict:
    if description:
        entry["description"] = " ".join(description.split())
    return entry


def operation_parameters(spec: dict, path_item: dict, operation: dict) -> list[dict]:
    """Path-level parameters overridden by operation-level ones (same name and location)."""
    found: dict[tuple[str, str], dict] = {}
    for parameter in path_item.get("parameters", []) + operation.get("parameters", []):
        parameter = resolve(spec, parameter)
        found[(parameter["in"], parameter["name"])] = parameter
    return list(found.values())


def url_object(spec: dict, path: str, parameters: list[dict]) -> dict:
    segments = [
        ":" + segment[1:-1] if segment.startswith("{") and segment.endswith("}") else segment
        for segment in path.strip("/").split("/")
    ]
    url: dict = {
        "host": ["{{baseUrl}}"],
        "path": segments,
        "raw": "{{baseUrl}}/" + "/".join(segments),
    }
    query = parameter_entries(spec, parameters, "query")
    enabled = [entry for entry in query if not entry["disabled"]]
    if enabled:
        url["raw"] += "?" + "&".join(f"{entry['key']}={entry['value']}" for entry in enabled)
    if query:
        url["query"] = query
    variables = [
        with_description({"key": parameter["name"], "value": parameter_value(spec, parameter)},
                         parameter.get("description"))
        for parameter in parameters if parameter["in"] == "path"
    ]
    if variables:
        url["variable"] = variables
    return url


def request_body(spec: dict, operation: dict) -> tuple[dict | None, list[dict], str]:
    """The Postman body, the headers it needs, and a note for the description."""
    body_spec = resolve(spec, operation.get("requestBody"))
    if not body_spec:
        return None, [], ""
    content = body_spec.get("content", {})
    if "application/json" in content:
        schema = content["application/json"].get("schema", {})
        example = example_body(spec, schema)
        properties = merged(spec, schema).get("properties", {})
        notes = []
        if "tree" in properties and "tree" not in example:
            notes.append('Add "tree": "{{treeId}}" when the alignment embeds no tree.')
        others = []
        for name, prop in properties.items():
            if name not in example and name not in BODY_VALUES and name not in BODY_SKIPPED:
                about = " ".join((merged(spec, prop).get("description") or "").split())
                others.append(f"`{name}` ({about})" if about else f"`{name}`")
        if others:
            notes.append("Fields without a default, left out of this example: " + ", ".join(others) + ".")
        note = "\n\n".join(notes)
        body = {
            "mode": "raw",
            "options": {"raw": {"language": "json"}},
            "raw": json.dumps(example, indent=2, ensure_ascii=False),
        }
        return body, [{"key": "Content-Type", "value": "application/json"}], note
    if "multipart/form-data" in content:
        schema = merged(spec, content["multipart/form-data"].get("schema", {}))
        fields = []
        for name, prop in schema.get("properties", {}).items():
            prop = merged(spec, prop)
            if prop.get("format") == "binary":
                entry = {"key": name, "src": EXAMPLE_FILE, "type": "file"}
            elif name == "meta":
                entry = {"key": name, "type": "text", "value": json.dumps(EXAMPLE_META)}
            else:
                entry = {"disabled": True, "key": name, "type": "text",
                         "value": PARAMETER_VALUES.get(name, text(prop.get("default")))}
            fields.append(with_description(entry, prop.get("description")))
        note = f"`file` is HyPhy's example alignment ({EXAMPLE_FILE}); pick another file to upload it."
        return {"formdata": fields, "mode": "formdata"}, [], note
    raise SystemExit(f"unsupported request body media types: {sorted(content)}")


def test_script(operation: dict, method: str, path: str) -> list[str] | None:
    action = operation.get("x-datamonkey-action")
    if method == "post" and path == "/datasets":
        return UPLOAD_SCRIPT
    if action == "start":
        return START_SCRIPT
    if action in ("result", "result_by_id"):
        return RESULT_SCRIPT
    return None


def parameter_entries(spec: dict, parameters: list[dict], location: str) -> list[dict]:
    """Postman key/value entries for the `location` ("query" or "header") parameters; optional ones disabled."""
    return [
        with_description({
            "disabled": not parameter.get("required", False),
            "key": parameter["name"],
            "value": parameter_value(spec, parameter),
        }, parameter.get("description"))
        for parameter in parameters if parameter["in"] == location
    ]


def request_item(spec: dict, path: str, method: str, path_item: dict, operation: dict) -> dict:
    operation_id = operation["operationId"]
    parameters = operation_parameters(spec, path_item, operation)
    body, body_headers, note = request_body(spec, operation)
    headers = parameter_entries(spec, parameters, "header")
    description = "\n\n".join(part for part in (
        (operation.get("description") or "").strip(),
        note,
        f"`{method.upper()} {path}` · operationId `{operation_id}`",
    ) if part)
    request: dict = {
        "description": description,
        "header": body_headers + headers,
        "method": method.upper(),
        "url": url_object(spec, path, parameters),
    }
    if body is not None:
        request["body"] = body
    item: dict = {
        "id": stable_id("operation", operation_id),
        "name": operation.get("summary") or operation_id,
        "request": request,
        "response": [],
    }
    script = test_script(operation, method, path)
    if script is not None:
        item["event"] = [{
            "listen": "test",
            "script": {"exec": script, "id": stable_id("test", operation_id), "type": "text/javascript"},
        }]
    return item


def folder_description(spec: dict, tag: str, operations: list[tuple[str, str, dict, dict]]) -> str:
    for entry in spec.get("tags", []):
        if entry.get("name") == tag and entry.get("description"):
            return entry["description"].strip()
    for path, method, _, operation in operations:  # a method's tag: its request schema's summary
        if operation.get("x-datamonkey-action") == "start":
            body = resolve(spec, operation.get("requestBody", {}))
            schema = merged(spec, body.get("content", {}).get("application/json", {}).get("schema", {}))
            return " ".join((schema.get("description") or "").split())
    return ""


def build_collection(spec: dict) -> dict:
    by_tag: dict[str, list[tuple[str, str, dict, dict]]] = {}
    tag_order = [entry["name"] for entry in spec.get("tags", [])]
    for path, path_item in spec["paths"].items():
        for method in VERBS:
            if method not in path_item:
                continue
            operation = path_item[method]
            tag = (operation.get("tags") or ["Other"])[0]
            if tag not in tag_order:
                tag_order.append(tag)
            by_tag.setdefault(tag, []).append((path, method, path_item, operation))
    folders = []
    for tag in tag_order:
        if tag not in by_tag:
            continue
        # Spec order, deletions last: running a folder top to bottom uses its objects before removing them.
        operations = sorted(by_tag[tag], key=lambda entry: entry[1] == "delete")
        folder = {
            "id": stable_id("tag", tag),
            "item": [request_item(spec, *entry) for entry in operations],
            "name": tag,
        }
        with_description(folder, folder_description(spec, tag, operations))
        folders.append(folder)
    info = spec["info"]
    base_url = SERVER_ORIGIN + spec.get("servers", [{"url": ""}])[0]["url"]
    variables = [
        {"description": "The API root (the environment's value wins)", "key": "baseUrl", "type": "string",
         "value": base_url},
        {"description": "user_token header value; the header is optional and disabled in each request",
         "key": "user_token", "type": "string", "value": ""},
    ] + [
        {"description": description, "key": key, "type": "string", "value": ""}
        for key, description in COLLECTION_VARIABLES.items()
    ]
    return {
        "info": {
            "_postman_id": stable_id("collection", info["title"]),
            "description": " ".join(info.get("description", "").split())
            + "\n\nGenerated from openapi.yaml by scripts/postman.py (`make postman`); do not edit by hand.",
            "name": info["title"],
            "schema": SCHEMA_URL,
            "version": info.get("version", ""),
        },
        "item": folders,
        "variable": variables,
    }


def build_environment(spec: dict) -> dict:
    base_url = SERVER_ORIGIN + spec.get("servers", [{"url": ""}])[0]["url"]
    return {
        "_postman_variable_scope": "environment",
        "id": stable_id("environment", "local"),
        "name": "Datamonkey (local)",
        "values": [
            {"enabled": True, "key": "baseUrl", "type": "default", "value": base_url},
            {"enabled": True, "key": "user_token", "type": "secret", "value": ""},
        ],
    }


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(spec_path: Path = SPEC_PATH) -> dict[str, str]:
    """File name → text of every generated file."""
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    return {
        COLLECTION_FILE: render(build_collection(spec)),
        ENVIRONMENT_FILE: render(build_environment(spec)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC_PATH, help="OpenAPI document (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in generate(args.spec).items():
        (args.out / name).write_text(content, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
