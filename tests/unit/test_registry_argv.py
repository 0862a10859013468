"""Golden tests: request body → exact HyPhy argv, for every method the installed HyPhy runs.

Expected lists are written out by hand from the HyPhy 2.5.46 CLI facts
(../shared/reference/hyphy-2.5-cli.md), not derived from the registry, so a changed flag,
default or value mapping fails here.
"""

from __future__ import annotations

import pytest

from service.errors import InvalidRequest
from service.methods import METHODS

A = "/jobs/j1/input/alignment.txt"
T = "/jobs/j1/input/tree.nwk"
W = "/jobs/j1"
OUT = ["--output", f"{W}/result.json"]


def argv(method_id: str, body: dict | None = None, *, tree: str | None = T) -> list[str]:
    method = METHODS[method_id]
    _, options = method.normalize({"alignment": "abc123", **(body or {})})
    return method.argv(options, A, tree, W)


def inputs(command: str, *, tree: bool = True) -> list[str]:
    return [command, "--alignment", A] + (["--tree", T] if tree else [])


# method id → (default body, expected argv)
DEFAULTS: dict[str, tuple[dict, list[str]]] = {
    "fel": ({}, inputs("fel") + ["--ci", "No", "--srv", "Yes", "--resample", "0", "--code", "Universal",
                                 "--branches", "All", "--pvalue", "0.1"] + OUT),
    "meme": ({}, inputs("meme") + ["--code", "Universal", "--resample", "0", "--pvalue", "0.1"] + OUT),
    "slac": ({}, inputs("slac") + ["--code", "Universal", "--branches", "All", "--samples", "100",
                                   "--pvalue", "0.1"] + OUT),
    "fubar": ({}, inputs("fubar") + ["--code", "Universal", "--grid", "20", "--concentration_parameter", "0.5"]
              + OUT + ["--cache", f"{W}/fubar.cache"]),
    "absrel": ({}, inputs("absrel") + ["--srv", "Yes", "--multiple-hits", "None", "--code", "Universal",
                                       "--branches", "All"] + OUT),
    "busted": ({}, inputs("busted") + ["--srv", "Yes", "--multiple-hits", "None", "--code", "Universal",
                                       "--branches", "All", "--rates", "3", "--syn-rates", "3", "--grid-size", "250",
                                       "--starting-points", "1"] + OUT),
    "relax": ({}, inputs("relax") + ["--code", "Universal", "--models", "All", "--rates", "3",
                                     "--kill-zero-lengths", "No"] + OUT),
    "gard": ({}, inputs("gard", tree=False) + ["--code", "Universal", "--type", "nucleotide", "--mode", "Normal",
                                               "--rv", "None", "--rate-classes", "2", "--model", "JTT"]
             + OUT + ["--output-lf", f"{W}/result.best-gard"]),
    "bgm": ({}, inputs("bgm") + ["--branches", "All", "--code", "Universal", "--type", "codon", "--steps", "100000",
                                 "--burn-in", "10000", "--samples", "100", "--max-parents", "1", "--min-subs", "1"]
            + OUT),
    "contrast-fel": ({"branch_sets": ["Test"]},
                     inputs("contrast-fel") + ["--branch-set", "Test", "--code", "Universal", "--srv", "Yes",
                                               "--permutations", "Yes", "--p-value", "0.05", "--q-value", "0.2"]
                     + OUT),
    "multihit": ({}, inputs("fmm") + ["--code", "Universal", "--triple-islands", "No", "--rates", "3"] + OUT),
    "fade": ({}, inputs("fade") + ["--branches", "All"] + OUT + ["--cache", f"{W}/fade.cache"]),
    "prime": ({}, inputs("prime") + ["--code", "Universal", "--branches", "All", "--pvalue", "0.1",
                                     "--properties", "Atchley", "--impute-states", "No"] + OUT),
    "leisr": ({}, inputs("leisr") + ["--type", "Nucleotide", "--model", "GTR", "--rate-variation", "No"] + OUT),
}

# method id → [(non-default body, expected argv)]
NON_DEFAULTS: dict[str, list[tuple[dict, list[str]]]] = {
    "fel": [
        ({"ci": "Yes", "srv": "No", "resample": 50, "genetic_code": "Vertebrate mtDNA", "branches": ["Internal"],
          "pvalue": 0.05},
         inputs("fel") + ["--ci", "Yes", "--srv", "No", "--resample", "50", "--code", "Vertebrate-mtDNA",
                          "--branches", "Internal", "--pvalue", "0.05"] + OUT),
        # v1.0.0 / Go README dialect
        ({"ci": True, "srv": False, "genetic_code": {"value": "Yeast mtDNA", "display_name": "Yeast"},
          "branches": "Leaves", "multiple_hits": "None", "site_multihit": "Estimate"},
         inputs("fel") + ["--ci", "Yes", "--srv", "No", "--resample", "0", "--code", "Yeast-mtDNA",
                          "--branches", "Leaves", "--pvalue", "0.1"] + OUT),
    ],
    "meme": [
        ({"genetic_code": "Ciliate Nuclear", "resample": 10, "rates": 2, "impute_states": "No"},
         inputs("meme") + ["--code", "Ciliate-Nuclear", "--resample", "10", "--pvalue", "0.1"] + OUT),
    ],
    "slac": [
        ({"genetic_code": "Eupltoid Nuclear", "branches": ["Foreground"], "samples": 0, "pvalue": 0.05},
         inputs("slac") + ["--code", "Euplotid-Nuclear", "--branches", "Foreground", "--samples", "0",
                           "--pvalue", "0.05"] + OUT),
    ],
    "fubar": [
        ({"grid_points": 30, "concentration_parameter": 0.1, "genetic_code": "Flatworm mtDNA"},
         inputs("fubar") + ["--code", "Flatworm-mtDNA", "--grid", "30", "--concentration_parameter", "0.1"]
         + OUT + ["--cache", f"{W}/fubar.cache"]),
    ],
    "absrel": [
        ({"srv": "No", "multiple_hits": "Double+Triple", "branches": ["Test"], "blb": 1},
         inputs("absrel") + ["--srv", "No", "--multiple-hits", "Double+Triple", "--code", "Universal",
                             "--branches", "Test"] + OUT),
    ],
    "busted": [
        ({"srv": "branch-site", "multiple_hits": "Double", "rates": 2, "syn_rates": 4, "grid_size": 500,
          "starting_points": 5, "error_sink": False},
         inputs("busted") + ["--srv", "Branch-site", "--multiple-hits", "Double", "--code", "Universal",
                             "--branches", "All", "--rates", "2", "--syn-rates", "4", "--grid-size", "500",
                             "--starting-points", "5"] + OUT),
    ],
    "relax": [
        ({"test_branches": ["Foreground"], "reference_branches": ["Background"], "models": "Minimal", "rates": 4,
          "kill_zero_lengths": "Yes", "genetic_code": "Invertebrate mtDNA"},
         inputs("relax") + ["--code", "Invertebrate-mtDNA", "--test", "Foreground", "--reference", "Background",
                            "--models", "Minimal", "--rates", "4", "--kill-zero-lengths", "Yes"] + OUT),
    ],
    "gard": [
        ({"data_type": "Protein", "run_mode": "Faster", "site_to_site_variation": "General Discrete",
          "rate_classes": 3, "model": "WAG"},
         inputs("gard", tree=False) + ["--code", "Universal", "--type", "amino-acid", "--mode", "Faster",
                                       "--rv", "GDD", "--rate-classes", "3", "--model", "WAG"]
         + OUT + ["--output-lf", f"{W}/result.best-gard"]),
        ({"site_to_site_variation": "Beta-Gamma"},
         inputs("gard", tree=False) + ["--code", "Universal", "--type", "nucleotide", "--mode", "Normal",
                                       "--rv", "Gamma", "--rate-classes", "2", "--model", "JTT"]
         + OUT + ["--output-lf", f"{W}/result.best-gard"]),
    ],
    "bgm": [
        ({"branches": "Internal", "data_type": "amino-acid", "steps": 5000, "burn_in": 500, "samples": 150,
          "max_parents": 2, "min_subs": 3},
         inputs("bgm") + ["--branches", "Internal", "--code", "Universal", "--type", "amino-acid", "--steps", "5000",
                          "--burn-in", "500", "--samples", "150", "--max-parents", "2", "--min-subs", "3"] + OUT),
    ],
    "contrast-fel": [
        ({"branch_sets": ["Test", "Reference"], "srv": False, "permutations": "No", "p_value": 0.01,
          "q_value": 0.1, "genetic_code": {"value": "Ascidian mtDNA"}},
         inputs("contrast-fel") + ["--branch-set", "Test", "--branch-set", "Reference", "--code", "Ascidian-mtDNA",
                                   "--srv", "No", "--permutations", "No", "--p-value", "0.01", "--q-value", "0.1"]
         + OUT),
    ],
    "multihit": [
        ({"triple_islands": True, "rate_classes": 1, "genetic_code": "Echinoderm mtDNA"},
         inputs("fmm") + ["--code", "Echinoderm-mtDNA", "--triple-islands", "Yes", "--rates", "1"] + OUT),
    ],
    "fade": [
        ({"branches": ["Foreground"], "bayes_factor_threshold": 100},
         inputs("fade") + ["--branches", "Foreground"] + OUT + ["--cache", f"{W}/fade.cache"]),
    ],
    "prime": [
        ({"properties": "LCAP", "impute_states": "Yes", "pvalue": 0.2, "branches": ["Leaves"]},
         inputs("prime") + ["--code", "Universal", "--branches", "Leaves", "--pvalue", "0.2",
                            "--properties", "LCAP", "--impute-states", "Yes"] + OUT),
    ],
    "leisr": [
        ({"type": "Protein"},  # a protein run defaults its model to LG
         inputs("leisr") + ["--type", "Protein", "--model", "LG", "--rate-variation", "No"] + OUT),
        ({"type": "Protein", "model": "WAG", "rate_variation": "Gamma"},
         inputs("leisr") + ["--type", "Protein", "--model", "WAG", "--rate-variation", "Gamma"] + OUT),
        ({"model": "HKY85", "rate_variation": "GDD"},
         inputs("leisr") + ["--type", "Nucleotide", "--model", "HKY85", "--rate-variation", "GDD"] + OUT),
    ],
}

AVAILABLE = sorted(m.id for m in METHODS.values() if m.available)


def test_every_available_method_has_golden_cases():
    assert AVAILABLE == sorted(["fel", "meme", "slac", "fubar", "absrel", "busted", "relax", "gard", "bgm",
                                "contrast-fel", "multihit", "fade", "prime", "leisr"])
    assert sorted(DEFAULTS) == AVAILABLE
    assert sorted(NON_DEFAULTS) == AVAILABLE


@pytest.mark.parametrize("method_id", sorted(DEFAULTS))
def test_default_argv(method_id):
    body, expected = DEFAULTS[method_id]
    assert argv(method_id, body, tree=None if method_id == "gard" else T) == expected


@pytest.mark.parametrize(
    "method_id,body,expected",
    [(m, body, expected) for m, cases in sorted(NON_DEFAULTS.items()) for body, expected in cases],
    ids=[f"{m}-{i}" for m, cases in sorted(NON_DEFAULTS.items()) for i, _ in enumerate(cases)],
)
def test_non_default_argv(method_id, body, expected):
    assert argv(method_id, body, tree=None if method_id == "gard" else T) == expected


def test_tree_flag_is_left_out_when_the_alignment_embeds_the_tree():
    assert argv("fel", tree=None) == ["fel", "--alignment", A, "--ci", "No", "--srv", "Yes", "--resample", "0",
                                      "--code", "Universal", "--branches", "All", "--pvalue", "0.1"] + OUT


# -- the spec-vs-HyPhy default cases, spelled out ---------------------------------------------------
def flag_value(args: list[str], flag: str) -> str:
    assert args.count(flag) == 1, f"{flag} appears {args.count(flag)} times in {args}"
    return args[args.index(flag) + 1]


def test_absrel_passes_the_spec_default_srv_yes_explicitly():
    """HyPhy's own aBSREL default is --srv No; the API's is Yes, so it must be passed."""
    assert flag_value(argv("absrel"), "--srv") == "Yes"


def test_relax_passes_the_spec_default_kill_zero_lengths_no_explicitly():
    """HyPhy's hidden default is Yes (deletes zero-length branches); the API's is No."""
    assert flag_value(argv("relax"), "--kill-zero-lengths") == "No"


def test_gard_passes_the_spec_default_two_rate_classes_explicitly():
    """HyPhy's own GARD default is 4 rate classes; the API's is 2."""
    assert flag_value(argv("gard", tree=None), "--rate-classes") == "2"


def test_multihit_runs_hyphy_fmm():
    assert argv("multihit")[0] == "fmm"
    assert METHODS["multihit"].hyphy_name == "fmm"


@pytest.mark.parametrize("method_id,flag,filename", [
    ("fubar", "--cache", "fubar.cache"),
    ("fade", "--cache", "fade.cache"),
    ("gard", "--output-lf", "result.best-gard"),
])
def test_per_job_side_files_live_in_the_job_directory(method_id, flag, filename):
    """Otherwise HyPhy writes them next to the input (and reuses a stale cache across jobs)."""
    args = argv(method_id, DEFAULTS[method_id][0], tree=None if method_id == "gard" else T)
    assert flag_value(args, flag) == f"{W}/{filename}"
    assert flag_value(args, "--output") == f"{W}/result.json"


@pytest.mark.parametrize("method_id", AVAILABLE)
def test_every_method_writes_its_result_into_the_job_directory(method_id):
    args = argv(method_id, DEFAULTS[method_id][0])
    assert flag_value(args, "--output") == f"{W}/result.json"
    assert flag_value(args, "--alignment") == A


def test_gard_takes_no_tree_even_when_one_is_given():
    method = METHODS["gard"]
    with pytest.raises(InvalidRequest) as caught:
        method.normalize({"alignment": "abc", "tree": "def"})
    assert [e.field for e in caught.value.errors] == ["tree"]


def test_option_order_does_not_change_argv():
    forward = {"ci": "Yes", "srv": "No", "resample": 3}
    backward = dict(reversed(list(forward.items())))
    assert argv("fel", forward) == argv("fel", backward)


@pytest.mark.parametrize("body,field", [
    ({"type": "Protein", "model": "GTR"}, "model"),
    ({"type": "Nucleotide", "model": "LG"}, "model"),
])
def test_leisr_model_must_fit_the_data_type(body, field):
    with pytest.raises(InvalidRequest) as caught:
        argv("leisr", body)
    assert [e.field for e in caught.value.errors] == [field]


@pytest.mark.parametrize("data_type", ["Nucleotide", "Protein"])
def test_leisr_jc69_fits_both_data_types(data_type):
    assert flag_value(argv("leisr", {"type": data_type, "model": "JC69"}), "--model") == "JC69"


def test_bgm_samples_must_fit_in_the_chain_after_burn_in():
    """HyPhy's BGM asks again (and fails on a closed stdin) unless 100 <= samples <= steps - burn_in."""
    bgm = METHODS["bgm"]
    with pytest.raises(InvalidRequest) as refused:
        bgm.normalize({"alignment": "a" * 32, "steps": 20000, "burn_in": 19950, "samples": 100})
    assert [e.field for e in refused.value.errors] == ["samples"] and "20000 - 19950 = 50" in str(refused.value.errors[0])
    _, options = bgm.normalize({"alignment": "a" * 32, "steps": 20000, "burn_in": 10000, "samples": 10000})
    assert options["samples"] == 10000


# -- what data each method needs ---------------------------------------------------------------------
@pytest.mark.parametrize(("method_id", "body", "kind"), [
    ("fel", {}, "codon"),
    ("fade", {}, "protein"),
    ("gard", {}, "nucleotide"),
    ("gard", {"data_type": "Protein"}, "protein"),
    ("bgm", {}, "codon"),
    ("bgm", {"data_type": "amino-acid"}, "protein"),
    ("bgm", {"data_type": "nucleotide"}, "nucleotide"),
    ("leisr", {}, "nucleotide"),
    ("leisr", {"type": "Protein", "model": "LG"}, "protein"),
])
def test_the_data_kind_a_request_needs(method_id, body, kind):
    method = METHODS[method_id]
    assert method.data_kind(method.normalize({"alignment": "abc123", **body})[1]) == kind


def test_every_method_taking_any_data_names_the_option_that_says_which():
    from service.methods.registry import DATA_KIND_OF_TYPE, DECLARED

    for method in DECLARED.values():
        if method.data == "any":
            option = method.option(method.data_option)
            assert set(option.values.values()) <= set(DATA_KIND_OF_TYPE), method.id
        else:
            assert method.data_option is None, method.id
