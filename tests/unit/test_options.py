"""Option normalisation: both request dialects, genetic codes, options HyPhy lacks, bad fields."""

from __future__ import annotations

import math

import pytest

from service.errors import FieldError, InvalidRequest
from service.methods import METHODS
from service.methods.options import (
    GENETIC_CODES,
    BranchSelection,
    GeneticCode,
    Integer,
    LabelList,
    Number,
    YesNo,
)

#: The 12 api-datamonkey names (sic "Eupltoid") → HyPhy 2.5 `--code` names, written out by hand.
SPEC_TO_HYPHY_CODE = [
    ("Universal", "Universal"),
    ("Vertebrate mtDNA", "Vertebrate-mtDNA"),
    ("Yeast mtDNA", "Yeast-mtDNA"),
    ("Mold/Protozoan mtDNA", "Mold-Protozoan-mtDNA"),
    ("Invertebrate mtDNA", "Invertebrate-mtDNA"),
    ("Ciliate Nuclear", "Ciliate-Nuclear"),
    ("Echinoderm mtDNA", "Echinoderm-mtDNA"),
    ("Eupltoid Nuclear", "Euplotid-Nuclear"),
    ("Alt. Yeast Nuclear", "Alt-Yeast-Nuclear"),
    ("Ascidian mtDNA", "Ascidian-mtDNA"),
    ("Flatworm mtDNA", "Flatworm-mtDNA"),
    ("Blepharisma Nuclear", "Blepharisma-Nuclear"),
]
CODON_METHODS_WITH_CODE = sorted(
    m.id for m in METHODS.values() if m.available and any(o.name == "genetic_code" for o in m.options)
)


def normalize(method_id: str, body: dict):
    return METHODS[method_id].normalize({"alignment": "abc123", **body})


def argv_of(method_id: str, body: dict) -> list[str]:
    _, options = normalize(method_id, body)
    return METHODS[method_id].argv(options, "/a", "/t", "/w")


def code_flag(args: list[str]) -> str:
    return args[args.index("--code") + 1]


def errors_of(method_id: str, body: dict) -> list[FieldError]:
    with pytest.raises(InvalidRequest) as caught:
        normalize(method_id, body)
    return caught.value.errors


# -- genetic codes --------------------------------------------------------------------------------
def test_the_mapping_covers_exactly_the_twelve_spec_names():
    assert dict(GENETIC_CODES) == dict(SPEC_TO_HYPHY_CODE)


@pytest.mark.parametrize("spec_name,hyphy_name", SPEC_TO_HYPHY_CODE)
def test_genetic_code_string_dialect(spec_name, hyphy_name):
    assert code_flag(argv_of("fel", {"genetic_code": spec_name})) == hyphy_name


@pytest.mark.parametrize("spec_name,hyphy_name", SPEC_TO_HYPHY_CODE)
def test_genetic_code_object_dialect(spec_name, hyphy_name):
    body = {"genetic_code": {"value": spec_name, "display_name": f"{spec_name} code"}}
    assert code_flag(argv_of("fel", body)) == hyphy_name


@pytest.mark.parametrize("spec_name,hyphy_name", SPEC_TO_HYPHY_CODE)
def test_both_genetic_code_dialects_give_the_same_canonical_value(spec_name, hyphy_name):
    _, as_string = normalize("fel", {"genetic_code": spec_name})
    _, as_object = normalize("fel", {"genetic_code": {"value": spec_name, "display_name": "whatever"}})
    assert as_string == as_object
    assert as_string["genetic_code"] == spec_name


@pytest.mark.parametrize("method_id", CODON_METHODS_WITH_CODE)
def test_every_method_with_a_genetic_code_maps_it(method_id):
    required = {"branch_sets": ["Test"]} if method_id == "contrast-fel" else {}
    args = argv_of(method_id, {**required, "genetic_code": "Mold/Protozoan mtDNA"})
    assert code_flag(args) == "Mold-Protozoan-mtDNA"


@pytest.mark.parametrize("value", [
    "Vertebrate-mtDNA",            # HyPhy's name, not the API's
    "Euplotid Nuclear",            # the correct spelling the spec does not use
    "universal",
    "",
    {"display_name": "Universal"},  # object without value
    {"value": "Martian"},
    42,
    ["Universal"],
])
def test_unknown_genetic_codes_are_refused(value):
    errors = errors_of("fel", {"genetic_code": value})
    assert [e.field for e in errors] == ["genetic_code"]


def test_genetic_code_option_alone():
    option = GeneticCode("genetic_code", "--code", "Universal")
    assert option.argv(option.normalize({"value": "Alt. Yeast Nuclear"})) == ["--code", "Alt-Yeast-Nuclear"]


# -- dialects --------------------------------------------------------------------------------------
def test_fel_v100_and_v120_bodies_normalise_identically():
    v100 = {"ci": False, "srv": True, "resample": 0, "multiple_hits": "None", "site_multihit": "Estimate",
            "genetic_code": {"value": "Universal", "display_name": "Universal code"}, "branches": []}
    v120 = {"ci": "No", "srv": "Yes", "genetic_code": "Universal", "user_token": "tok"}
    assert normalize("fel", v100) == normalize("fel", v120)
    assert normalize("fel", v120) == normalize("fel", {})


@pytest.mark.parametrize("method_id,v100,v120", [
    ("busted", {"error_sink": False}, {"error_sink": "No"}),
    ("multihit", {"triple_islands": True}, {"triple_islands": "Yes"}),
    ("absrel", {"srv": False}, {"srv": "No"}),
    ("contrast-fel", {"branch_sets": ["Test"], "srv": True, "permutations": False},
     {"branch_sets": ["Test"], "srv": "Yes", "permutations": "No"}),
    ("slac", {"branches": "All"}, {"branches": []}),
    ("bgm", {"branches": "All"}, {"branches": ["All"]}),
    ("fel", {"resample": 0.0}, {"resample": 0}),
    ("busted", {"rates": 3.0}, {"rates": 3}),
])
def test_equivalent_values_normalise_identically(method_id, v100, v120):
    assert normalize(method_id, v100) == normalize(method_id, v120)


def test_v100_alignment_file_alias():
    datasets, _ = METHODS["slac"].normalize({"alignment_file": "abc123"})
    assert datasets == {"alignment": "abc123", "tree": None}


def test_user_token_in_the_body_is_not_an_option():
    _, options = normalize("fel", {"user_token": "secret"})
    assert "user_token" not in options


# -- options HyPhy 2.5.46 lacks --------------------------------------------------------------------
@pytest.mark.parametrize("method_id,field,value", [
    ("fel", "multiple_hits", "Double"),
    ("fel", "multiple_hits", "Double+Triple"),
    ("fel", "site_multihit", "Global"),
    ("meme", "multiple_hits", "Double"),
    ("meme", "site_multihit", "Global"),
    ("meme", "rates", 3),
    ("meme", "impute_states", "Yes"),
    ("absrel", "blb", 0.5),
    ("busted", "error_sink", "Yes"),
    ("busted", "error_sink", True),
    ("fade", "bayes_factor_threshold", 50),
])
def test_non_default_values_of_options_hyphy_lacks_are_refused(method_id, field, value):
    errors = errors_of(method_id, {field: value})
    assert [e.field for e in errors] == [field]
    assert "only the default" in errors[0].message


@pytest.mark.parametrize("method_id,field,value", [
    ("fel", "multiple_hits", "None"),
    ("fel", "site_multihit", "Estimate"),
    ("meme", "rates", 2),
    ("meme", "impute_states", False),
    ("absrel", "blb", 1.0),
    ("busted", "error_sink", "No"),
    ("fade", "bayes_factor_threshold", 100),
])
def test_default_values_of_options_hyphy_lacks_are_accepted_and_pass_nothing(method_id, field, value):
    assert argv_of(method_id, {field: value}) == argv_of(method_id, {})


def test_options_hyphy_lacks_still_reject_wrong_types():
    errors = errors_of("fel", {"multiple_hits": "Quadruple"})
    assert [e.field for e in errors] == ["multiple_hits"]
    assert "must be one of" in errors[0].message


# -- bad fields --------------------------------------------------------------------------------------
def test_unknown_fields_are_refused_by_name():
    errors = errors_of("fel", {"cii": "Yes", "bogus": 1})
    assert sorted(e.field for e in errors) == ["bogus", "cii"]


def test_every_bad_field_is_reported_at_once():
    errors = errors_of("busted", {"rates": 0, "srv": "maybe", "branches": ["A", "B"]})
    assert sorted(e.field for e in errors) == ["branches", "rates", "srv"]


@pytest.mark.parametrize("method_id", ["fel", "absrel", "busted", "slac", "prime", "fade", "bgm"])
def test_two_branches_are_refused(method_id):
    errors = errors_of(method_id, {"branches": ["Foreground", "Background"]})
    assert [e.field for e in errors] == ["branches"]
    assert "2 items" in errors[0].message


@pytest.mark.parametrize("body,field", [
    ({}, "alignment"),
    ({"alignment": "not-an-id!"}, "alignment"),
    ({"alignment": 5}, "alignment"),
    ({"alignment": "a" * 65}, "alignment"),
    ({"alignment": "abc", "tree": "../../etc/passwd"}, "tree"),
])
def test_dataset_ids_are_checked(body, field):
    with pytest.raises(InvalidRequest) as caught:
        METHODS["fel"].normalize(body)
    assert [e.field for e in caught.value.errors] == [field]


def test_contrast_fel_requires_branch_sets():
    errors = errors_of("contrast-fel", {})
    assert [e.field for e in errors] == ["branch_sets"]


@pytest.mark.parametrize("body", [{"test_branches": ["A", "B"]}, {"reference_branches": ["A", "B"]}])
def test_relax_takes_one_label_per_set(body):
    errors = errors_of("relax", body)
    assert [e.field for e in errors] == list(body)


# -- option types ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [(True, "Yes"), (False, "No"), ("Yes", "Yes"), ("No", "No"),
                                            ("yes", "Yes"), ("NO", "No")])
def test_yes_no_accepts(value, expected):
    assert YesNo("ci", "--ci", "No").normalize(value) == expected


@pytest.mark.parametrize("value", [1, 0, "true", "Y", None, [], "Maybe"])
def test_yes_no_refuses(value):
    with pytest.raises(FieldError) as caught:
        YesNo("ci", "--ci", "No").normalize(value)
    assert caught.value.field == "ci"


def test_integer_bounds_and_types():
    option = Integer("rates", "--rates", 3, "", 1, 10)
    assert option.normalize(4) == 4
    assert option.normalize(4.0) == 4 and isinstance(option.normalize(4.0), int)
    for bad in (0, 11, 4.5, True, "4", None):
        with pytest.raises(FieldError):
            option.normalize(bad)


def test_number_bounds_and_types():
    option = Number("pvalue", "--pvalue", 0.1, "", 0, 1)
    assert option.normalize(0.25) == 0.25
    assert option.normalize(1.0) == 1 and isinstance(option.normalize(1.0), int)
    assert option.argv(option.normalize(0.05)) == ["--pvalue", "0.05"]
    for bad in (-0.1, 1.5, math.nan, math.inf, True, "0.1", None):
        with pytest.raises(FieldError):
            option.normalize(bad)


@pytest.mark.parametrize("value,expected", [
    ([], "All"), ("All", "All"), (["All"], "All"), (["Internal"], "Internal"), ("Leaves", "Leaves"),
    (["Unlabeled branches"], "Unlabeled branches"), (["Foreground"], "Foreground"), (["fg.1-x"], "fg.1-x"),
])
def test_branch_selection_accepts(value, expected):
    assert BranchSelection("branches", "--branches", []).normalize(value) == expected


@pytest.mark.parametrize("value", [["A", "B"], ["a b"], ["{Test}"], ["x;rm -rf"], [""], [1], 5, {"a": 1}])
def test_branch_selection_refuses(value):
    with pytest.raises(FieldError) as caught:
        BranchSelection("branches", "--branches", []).normalize(value)
    assert caught.value.field == "branches"


def test_label_list():
    option = LabelList("branch_sets", "--branch-set", None, min_items=1)
    assert option.argv(option.normalize(["A", "B"])) == ["--branch-set", "A", "--branch-set", "B"]
    assert option.normalize("A") == ["A"]
    for bad in ([], ["A", "A"], ["bad label"], [3]):
        with pytest.raises(FieldError):
            option.normalize(bad)
