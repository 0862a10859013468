"""Contract: what openapi.yaml puts on the wire is what tests/fixtures/openapi-wire.json recorded.

The fixture is a fingerprint table of openapi.yaml as it was when its 48 method operations and
their request schemas became generated from the method registry (`make spec`, issue 14 item 6):
the generated document must route, validate and answer exactly as the hand-written one did.

- per operation (keyed by operationId): its verb and path, and the sha256 of its canonical form:
  every key of the operation (tags, summary, x-datamonkey-*, requestBody, responses, ...) with
  every `$ref` inlined, and its parameters (path-level ones merged in, operation-level ones
  winning) resolved and sorted by (in, name);
- per component (schemas, parameters, responses, headers, ...): its name and the sha256 of its
  resolved form, so a schema no operation reaches yet (or that only GET /methods documents) is
  covered too;
- the sha256 of the document outside `paths` and `components` (openapi, info, servers, tags).

Canonical form: `$ref`s inlined (a recursive one stays a `$ref` where it recurs), JSON with sorted
keys, no whitespace; YAML anchors, key order, quoting and flow/block style do not count.

The fixture is "the wire as of this refactor". An intentional API change (a new field, a new
method, a changed description: documentation is part of each operation here; made in
openapi.base.yaml or the registry, then `make spec`) regenerates it:

    .venv/bin/python tests/contract/test_openapi_wire.py --write

and the diff of tests/fixtures/openapi-wire.json names the operations and components it touched.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"
FIXTURE = ROOT / "tests" / "fixtures" / "openapi-wire.json"
VERBS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
WRITE = f"{Path(__file__).relative_to(ROOT)} --write"


def inline(doc: dict, node: Any, seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` replaced by what it points at (recursively)."""
    if isinstance(node, list):
        return [inline(doc, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            return {"$ref": ref}
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        resolved = inline(doc, target, seen + (ref,))
        return {**resolved, **inline(doc, siblings, seen)} if siblings else resolved
    return {str(key): inline(doc, value, seen) for key, value in node.items()}


def digest(node: Any) -> str:
    text = json.dumps(node, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolved_operation(doc: dict, path_item: dict, operation: dict) -> dict:
    parameters: dict[tuple[str, str], Any] = {}
    for parameter in path_item.get("parameters", []) + operation.get("parameters", []):
        parameter = inline(doc, parameter)
        parameters[(parameter["in"], parameter["name"])] = parameter
    resolved = inline(doc, {key: value for key, value in operation.items() if key != "parameters"})
    resolved["parameters"] = [parameters[key] for key in sorted(parameters)]
    return resolved


def fingerprint(doc: dict) -> dict:
    operations = {}
    for path, path_item in doc["paths"].items():
        for verb in VERBS:
            if verb in path_item:
                operation = path_item[verb]
                assert operation["operationId"] not in operations, f"duplicate operationId {operation['operationId']}"
                operations[operation["operationId"]] = {
                    "path": path,
                    "verb": verb,
                    "sha256": digest(resolved_operation(doc, path_item, operation)),
                }
    components = {
        section: {name: digest(inline(doc, entry)) for name, entry in sorted(entries.items())}
        for section, entries in sorted(doc.get("components", {}).items())
    }
    document = {key: value for key, value in doc.items() if key not in ("paths", "components")}
    return {
        "document": digest(inline(doc, document)),
        "operations": dict(sorted(operations.items())),
        "components": components,
    }


def current() -> dict:
    return fingerprint(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


def render(table: dict) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def differences(recorded: dict, now: dict) -> list[str]:
    found = []
    if recorded["document"] != now["document"]:
        found.append("document (info/servers/tags) changed")
    for operation_id in sorted(set(recorded["operations"]) | set(now["operations"])):
        before, after = recorded["operations"].get(operation_id), now["operations"].get(operation_id)
        if before != after:
            where = after or before
            state = "missing" if after is None else "new" if before is None else "changed"
            found.append(f"{state}: {where['verb'].upper()} {where['path']} ({operation_id})")
    for section in sorted(set(recorded["components"]) | set(now["components"])):
        before, after = recorded["components"].get(section, {}), now["components"].get(section, {})
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                state = "missing" if name not in after else "new" if name not in before else "changed"
                found.append(f"{state}: components/{section}/{name}")
    return found


def test_the_wire_is_the_recorded_one():
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    changed = differences(recorded, current())
    assert changed == [], (
        "openapi.yaml differs from tests/fixtures/openapi-wire.json:\n  " + "\n  ".join(changed)
        + f"\nAn intentional API change regenerates the fixture: .venv/bin/python {WRITE}")


def test_the_fingerprint_sees_a_changed_schema():
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    before = fingerprint(doc)
    schema = doc["components"]["schemas"]["Hash"]
    schema["pattern"] = schema.get("pattern", "") + "x"
    after = fingerprint(doc)
    changed = differences(before, after)
    # every operation that reaches Hash through a $ref changed, and Hash itself
    assert "changed: components/schemas/Hash" in changed
    assert "changed: POST /methods/fel-start (startFELJob)" in changed
    assert not any("getHealth" in line for line in changed)


def test_the_fingerprint_ignores_yaml_style():
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    reordered = yaml.safe_load(yaml.safe_dump(doc, sort_keys=True, default_flow_style=True))
    assert fingerprint(reordered) == fingerprint(doc)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {sys.executable} {WRITE}  (records openapi.yaml's wire as the fixture)")
    FIXTURE.write_text(render(current()), encoding="utf-8")
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
