"""Contract: the checked-in openapi.yaml is openapi.base.yaml + the method registry, regenerated (`make spec`).

- `python -m service.methods.spec` run into a temporary directory writes byte-for-byte the
  checked-in openapi.yaml (and the same bytes twice: the output is deterministic);
- every registry method has its three operations, bound to it, and its request schema;
- openapi.base.yaml leaves the per-method entries to the generator (and the generator refuses a
  base that defines them, or whose markers are missing);
- the generator's own facts about HyPhy hold: the options it documents as "2.5.69: any value"
  are those Debian trixie's HyPhy has and 2.5.46 lacks (tests/fixtures/hyphy-capabilities).

tests/contract/test_openapi_wire.py checks that what the generated document puts on the wire is
what the hand-written one did.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service.methods import spec
from service.methods.capabilities import ASSUMED, SOURCE_LOCAL, read_collection
from service.methods.options import NotInHyPhy
from service.methods.registry import DECLARED, METHODS

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load(spec.SPEC_PATH.read_text(encoding="utf-8"))
BASE_TEXT = spec.BASE_PATH.read_text(encoding="utf-8")
BASE = yaml.safe_load(BASE_TEXT)
STALE = "openapi.yaml is stale: run `make spec` (and `make postman`)"
TRIXIE = ROOT / "tests" / "fixtures" / "hyphy-capabilities" / "2.5.68-trixie"


# --- freshness ------------------------------------------------------------------------------------
def test_checked_in_openapi_yaml_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "openapi.yaml"
    run = subprocess.run([sys.executable, "-m", "service.methods.spec", "--out", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == spec.SPEC_PATH.read_bytes(), STALE


def test_generation_is_deterministic():
    assert spec.render(BASE_TEXT) == spec.render(BASE_TEXT)


def test_openapi_yaml_says_it_is_generated():
    assert spec.SPEC_PATH.read_text(encoding="utf-8").startswith(spec.HEADER)


# --- every registry method --------------------------------------------------------------------------
@pytest.mark.parametrize("method_id", sorted(METHODS))
def test_every_registry_method_has_its_operations_and_request_schema(method_id):
    method = METHODS[method_id]
    start, result = SPEC["paths"][f"/methods/{method_id}-start"], SPEC["paths"][f"/methods/{method_id}-result"]
    bound = {(path, verb): operation for path, item in SPEC["paths"].items() for verb, operation in item.items()
             if isinstance(operation, dict) and operation.get("x-datamonkey-method") == method_id}
    assert bound == {
        (f"/methods/{method_id}-start", "post"): start["post"],
        (f"/methods/{method_id}-result", "get"): result["get"],
        (f"/methods/{method_id}-result", "post"): result["post"],
    }
    assert [start["post"]["x-datamonkey-action"], result["get"]["x-datamonkey-action"],
            result["post"]["x-datamonkey-action"]] == ["start", "result_by_id", "result"]
    assert start["post"]["tags"] == result["get"]["tags"] == result["post"]["tags"] == [method.name.upper()]
    name = spec.schema_name(method_id)
    assert name.removesuffix("Request").lower() == method_id.replace("-", "")
    for operation in (start["post"], result["post"]):  # POST -result takes the start body
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{name}"}
    assert "requestBody" not in result["get"]
    assert {p.get("$ref", "").rsplit("/", 1)[-1] for p in result["get"]["parameters"]} >= {"JobIdQuery"}
    assert "501" in start["post"]["responses"]  # a method the installed HyPhy cannot run
    schema = SPEC["components"]["schemas"][name]
    if DECLARED[method_id].options:
        assert list(schema["properties"])[-len(method.options) - len(method.aliases):] == \
            [o.name for o in method.options] + list(method.aliases)
    else:  # hand-written (upstream's fields): only methods this service cannot run
        assert name in BASE["components"]["schemas"] and not method.available


def test_method_operations_are_the_registrys_only():
    in_spec = {op["x-datamonkey-method"] for item in SPEC["paths"].values() for op in item.values()
               if isinstance(op, dict) and "x-datamonkey-method" in op}
    assert in_spec == set(METHODS)
    method_paths = {p for p in SPEC["paths"] if p.startswith("/methods/")}
    assert method_paths == {f"/methods/{m}-{action}" for m in METHODS for action in ("start", "result")}


def test_operation_ids_are_unique_and_the_exceptions_are_used():
    ids = [op["operationId"] for item in SPEC["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(ids) == len(set(ids))
    for method_id, names in spec.OPERATION_IDS.items():  # each exception differs from the rule
        x = METHODS[method_id].name.upper().replace("-", "")
        rule = {"start": f"start{x}Job", "result": f"get{x}Job", "result_by_id": f"get{x}JobById"}
        assert all(rule[action] != name for action, name in names.items()), method_id


def test_every_table_entry_names_a_real_field():
    for method_id, field in spec.DESCRIPTIONS:
        method = DECLARED[method_id]
        assert field in {o.name for o in method.options} | set(method.aliases), (method_id, field)
        option = next((o for o in method.options if o.name == field), None)
        if option is not None:  # an entry equal to the registry's text is dead weight
            assert spec.DESCRIPTIONS[(method_id, field)] != option.description, (method_id, field)
    for method_id in spec.ALIGNMENT_FILE_METHODS:
        assert "alignment_file" in SPEC["components"]["schemas"][spec.schema_name(method_id)]["properties"]


# --- the base file --------------------------------------------------------------------------------
def test_base_holds_no_generated_entries():
    assert not [p for p in BASE["paths"] if p.startswith("/methods/") and p != "/methods"]
    generated = {spec.schema_name(m.id) for m in DECLARED.values() if m.options}
    assert not generated & set(BASE["components"]["schemas"])


def test_generator_refuses_a_base_that_defines_a_method_path():
    text = BASE_TEXT.replace(spec.PATHS_MARKER, spec.PATHS_MARKER + "\n  /methods/fel-start: {}", 1)
    with pytest.raises(ValueError, match="defines what is generated"):
        spec.render(text)


@pytest.mark.parametrize("marker", [spec.PATHS_MARKER, spec.SCHEMAS_MARKER])
def test_generator_refuses_a_base_without_a_marker(marker):
    with pytest.raises(ValueError, match="exactly once"):
        spec.render(BASE_TEXT.replace(marker, "# moved"))


def test_generator_refuses_a_marker_outside_its_section():
    at = BASE_TEXT.index("\ncomponents:")
    text = BASE_TEXT.replace("  " + spec.PATHS_MARKER + "\n", "")
    text = text[:at] + "\n" + spec.PATHS_MARKER + text[at:]  # at the top level, not under paths:
    with pytest.raises(ValueError):
        spec.render(text)


# --- the generator's facts about HyPhy -------------------------------------------------------------
def test_only_default_notes_match_the_hyphy_releases():
    """`2.5.46: default only` where 2.5.46 lacks the keyword and trixie's HyPhy has it; `neither`
    where no known HyPhy has one."""
    trixie = read_collection(TRIXIE, SOURCE_LOCAL)
    assert trixie.version == "2.5.68"  # Debian's hyphy 2.5.69+dfsg reports itself as 2.5.68
    notes = 0
    for method in DECLARED.values():
        for option in method.options:
            note = spec.only_default_note(method, option)
            assumed = METHODS[method.id].option(option.name)
            newest = method.for_hyphy(trixie).option(option.name)
            if not note:
                assert not isinstance(assumed, NotInHyPhy), (method.id, option.name)
                continue
            notes += 1
            assert isinstance(assumed, NotInHyPhy), (method.id, option.name)
            if f"{spec.NEWEST_HYPHY}: any value" in note:
                assert not isinstance(newest, NotInHyPhy), (method.id, option.name)
            else:
                assert f"neither {ASSUMED.version} nor {spec.NEWEST_HYPHY}" in note
                assert isinstance(newest, NotInHyPhy), (method.id, option.name)
    assert notes > 0
