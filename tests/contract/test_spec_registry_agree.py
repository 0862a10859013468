"""Contract: openapi.yaml, the method registry and upstream api-datamonkey (v1.0.0, v1.2.0) agree.

- each method's `<Prefix>Request` schema has one property per registry option with the same
  default, enum, type and bounds (the schemas are generated from the registry, service/methods/spec.py;
  these rules restate the mapping independently, so a wrong or missing generator rule shows up here;
  test_spec_fresh.py checks every method has its operations);
- every upstream path (except the LLM /chat ones) exists here with the same verbs,
  operationIds, parameter names, request media types and success codes;
- every upstream `*Request` field name exists in ours;
- openapi.yaml is a valid OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from service.methods import METHODS
from service.methods.options import (
    GENETIC_CODES,
    BranchSelection,
    Choice,
    GeneticCode,
    Integer,
    LabelList,
    NotInHyPhy,
    Number,
    Option,
    YesNo,
)
from service.methods.registry import DATASET_FIELDS, IGNORED_FIELDS
from service.methods.spec import SPEC_PATH

REFERENCE = Path("/work/shared/reference")
UPSTREAM_FILES = {
    "v1.0.0": REFERENCE / "api-datamonkey.d-callan.openapi.yaml",
    "v1.2.0": REFERENCE / "api-datamonkey.veg.openapi.yaml",
}
VERBS = ("get", "put", "post", "delete", "patch", "head", "options")

OURS: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
UPSTREAM: dict[str, dict[str, Any]] = {name: yaml.safe_load(path.read_text()) for name, path in UPSTREAM_FILES.items()}


def resolve(doc: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def ref_name(node: dict) -> str | None:
    """The schema a property points at: `$ref` directly or as the single item of `allOf`."""
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    if len(node.get("allOf", [])) == 1 and "$ref" in node["allOf"][0]:
        return node["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    return None


def properties(doc: dict, schema: Any) -> dict[str, Any]:
    """All properties of a schema, through `$ref` and `allOf`."""
    schema = resolve(doc, schema)
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        found.update(properties(doc, part))
    return found


def operations(doc: dict) -> list[tuple[str, str, dict, dict]]:
    return [(path, verb, item[verb], item) for path, item in doc["paths"].items() for verb in VERBS if verb in item]


def parameter_names(doc: dict, operation: dict, path_item: dict) -> set[str]:
    return {resolve(doc, p)["name"] for p in operation.get("parameters", []) + path_item.get("parameters", [])}


def bound_operations(method_id: str) -> dict[str, tuple[str, str, dict]]:
    """x-datamonkey-action → (path, verb, operation) for one method."""
    return {op["x-datamonkey-action"]: (path, verb, op) for path, verb, op, _ in operations(OURS)
            if op.get("x-datamonkey-method") == method_id}


def request_schema_name(method_id: str) -> str:
    _, _, start = bound_operations(method_id)["start"]
    schema = resolve(OURS, start["requestBody"])["content"]["application/json"]["schema"]
    return ref_name(schema)


def request_properties(method_id: str) -> dict[str, Any]:
    return OURS["components"]["schemas"][request_schema_name(method_id)]["properties"]


def base_option(option: Option) -> Option:
    return option.accepts if isinstance(option, NotInHyPhy) else option


OPTION_CASES = [(m.id, o.name) for m in METHODS.values() for o in m.options]


# -- openapi.yaml itself ---------------------------------------------------------------------------------
def test_openapi_yaml_is_a_valid_openapi_document():
    validate(OURS)


def test_every_operation_has_a_unique_operation_id():
    ids = [op["operationId"] for _, _, op, _ in operations(OURS)]
    assert len(ids) == len(set(ids))


# -- registry ↔ spec -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method_id,option_name", OPTION_CASES)
def test_registry_option_is_a_spec_property_with_the_same_default(method_id, option_name):
    option = METHODS[method_id].option(option_name)
    prop = request_properties(method_id).get(option_name)
    assert prop is not None, f"{request_schema_name(method_id)} lacks {option_name}"
    if option.default is None:
        assert "default" not in prop
        return
    assert "default" in prop, f"{method_id}.{option_name} has no spec default"
    assert option.normalize(prop["default"]) == option.normalize(option.default)


@pytest.mark.parametrize("method_id,option_name", OPTION_CASES)
def test_registry_option_type_matches_the_spec(method_id, option_name):
    option = base_option(METHODS[method_id].option(option_name))
    prop = request_properties(method_id)[option_name]
    if isinstance(option, Choice):
        assert prop.get("type") == "string"
        assert sorted(prop["enum"]) == sorted(option.values), f"{method_id}.{option_name} enum differs"
    elif isinstance(option, YesNo):
        assert ref_name(prop) == "YesNoOrBoolean"
    elif isinstance(option, GeneticCode):
        assert ref_name(prop) == "GeneticCodeInput"
    elif isinstance(option, BranchSelection):
        assert ref_name(prop) == "BranchSelection"
    elif isinstance(option, LabelList):
        assert prop["type"] == "array" and prop["items"] == {"type": "string"}
        assert prop.get("minItems", 0) == option.min_items
    elif isinstance(option, (Integer, Number)):
        assert prop["type"] == ("integer" if isinstance(option, Integer) else "number")
        assert prop.get("minimum") == option.minimum, f"{method_id}.{option_name} minimum"
        assert prop.get("maximum") == option.maximum, f"{method_id}.{option_name} maximum"
    else:  # pragma: no cover - a new option type needs a rule here
        pytest.fail(f"no contract rule for {type(option).__name__}")


@pytest.mark.parametrize("method_id", sorted(m.id for m in METHODS.values() if m.available))
def test_every_spec_property_is_understood_by_the_registry(method_id):
    """A documented field the registry does not know would be refused as unknown (422)."""
    method = METHODS[method_id]
    known = {o.name for o in method.options} | set(DATASET_FIELDS) | set(method.field_aliases) | set(IGNORED_FIELDS)
    if method.tree == "none":
        known.discard("tree")
    assert set(request_properties(method_id)) <= known


def test_genetic_code_enum_is_the_registry_mapping():
    assert OURS["components"]["schemas"]["GeneticCode"]["enum"] == list(GENETIC_CODES)


def test_yes_no_schema_accepts_both_dialects():
    one_of = OURS["components"]["schemas"]["YesNoOrBoolean"]["oneOf"]
    assert {"type": "string", "enum": ["Yes", "No"]} in one_of and {"type": "boolean"} in one_of


# -- upstream ↔ ours -------------------------------------------------------------------------------------
UPSTREAM_OPERATIONS = [
    (version, path, verb)
    for version, doc in sorted(UPSTREAM.items())
    for path, verb, _, _ in operations(doc)
    if not path.startswith("/chat")
]


def test_upstream_specs_are_the_expected_ones():
    assert len([op for op in UPSTREAM_OPERATIONS if op[0] == "v1.0.0"]) == 25
    assert len([op for op in UPSTREAM_OPERATIONS if op[0] == "v1.2.0"]) == 57 - 6  # minus /chat


#: Verbs we add on upstream's own paths (issue 7: PATCH merges the owner's annotations into a job).
ADDED_VERBS = {"/jobs/{jobId}": {"patch"}}


@pytest.mark.parametrize("version", sorted(UPSTREAM))
def test_every_upstream_path_exists_with_the_same_verbs(version):
    doc = UPSTREAM[version]
    for path, item in doc["paths"].items():
        if path.startswith("/chat"):
            continue
        assert path in OURS["paths"], f"{version} path {path} missing"
        upstream_verbs = {v for v in VERBS if v in item}
        our_verbs = {v for v in VERBS if v in OURS["paths"][path]}
        # v1.2.0 is the full set; v1.0.0 lacks the GET *-result operations v1.2.0 added.
        all_upstream_verbs = {v for d in UPSTREAM.values() for v in VERBS if v in d["paths"].get(path, {})}
        assert upstream_verbs <= our_verbs, f"{version} {path}"
        assert our_verbs - ADDED_VERBS.get(path, set()) == all_upstream_verbs, (
            f"{path}: ours {our_verbs}, upstream {all_upstream_verbs}")


@pytest.mark.parametrize("version,path,verb", UPSTREAM_OPERATIONS)
def test_upstream_operation_matches_ours(version, path, verb):
    upstream_doc = UPSTREAM[version]
    upstream_item = upstream_doc["paths"][path]
    upstream, ours, our_item = upstream_item[verb], OURS["paths"][path][verb], OURS["paths"][path]
    assert ours["operationId"] == upstream["operationId"]  # generated clients name methods after it
    missing = parameter_names(upstream_doc, upstream, upstream_item) - parameter_names(OURS, ours, our_item)
    assert not missing, f"{verb.upper()} {path}: parameters {missing} missing"
    if "requestBody" in upstream:
        upstream_types = set(resolve(upstream_doc, upstream["requestBody"])["content"])
        assert upstream_types <= set(resolve(OURS, ours["requestBody"])["content"])
    success = {code for code in upstream["responses"] if str(code).startswith("2")}
    assert success == {code for code in ours["responses"] if str(code).startswith("2")}


@pytest.mark.parametrize("version", sorted(UPSTREAM))
def test_every_upstream_request_field_exists_in_ours(version):
    doc = UPSTREAM[version]
    request_schemas = [name for name in doc["components"]["schemas"] if name.endswith("Request")]
    assert "FelRequest" in request_schemas and "UploadRequest" in request_schemas
    for name in request_schemas:
        assert name in OURS["components"]["schemas"], f"{version} schema {name} missing"
        upstream_fields = set(properties(doc, doc["components"]["schemas"][name]))
        our_fields = set(properties(OURS, OURS["components"]["schemas"][name]))
        assert upstream_fields <= our_fields, f"{version} {name}: {upstream_fields - our_fields} missing"


@pytest.mark.parametrize("version", sorted(UPSTREAM))
def test_upstream_request_defaults_normalise_to_ours(version):
    """Where upstream gives a default for an option, our registry's default means the same."""
    doc = UPSTREAM[version]
    for method in METHODS.values():
        name = request_schema_name(method.id)
        if name not in doc["components"]["schemas"]:
            continue
        upstream_props = properties(doc, doc["components"]["schemas"][name])
        for option in method.options:
            prop = upstream_props.get(option.name)
            if prop is None or "default" not in prop:
                continue
            assert option.normalize(prop["default"]) == option.normalize(option.default), \
                f"{version} {name}.{option.name}: upstream {prop['default']!r}, ours {option.default!r}"
