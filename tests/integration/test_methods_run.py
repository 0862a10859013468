"""Every method that finishes in about two minutes on 2 cores, run for real through the HTTP API.

One app (LocalScheduler, 2 jobs at a time) for the module: all jobs are submitted first, longest
first, and then polled together, so the batch takes about as long as its share of two cores.
Inputs are HyPhy's shipped examples (tests/fixtures, see make_fixtures.py): Drosophila adh
(6 × 254 codons) and, for FADE, p51 protein (8 × 440 aa) with a rooted, labelled tree.
Expected keys are those listed in ../shared/reference/hyphy-2.5-cli.md §4 for HyPhy 2.5.46.
"""

from __future__ import annotations

import json
import math
import subprocess

import pytest

from service import hyphy
from tests.conftest import ADH_NEXUS, FIXTURES
from tests.integration.helpers import (
    INTEGRATION,
    build_app,
    describe,
    fixture_id,
    kill_leftover_runners,
    start,
    wait_all,
)

pytestmark = INTEGRATION

CODON_KEYS = {"analysis", "branch attributes", "data partitions", "fits", "input", "runtime", "tested", "timers"}

#: method id → top-level keys HyPhy 2.5.46 writes (a result may hold more).
EXPECTED_KEYS = {
    "fel": CODON_KEYS | {"MLE"},
    "meme": CODON_KEYS | {"MLE", "substitutions"},
    "slac": CODON_KEYS | {"MLE", "sample-2.5", "sample-97.5", "sample-median"},
    "fubar": CODON_KEYS | {"MLE", "grid", "posterior", "settings"},
    # aBSREL and BUSTED run with srv=Yes (the spec's default), so both add synonymous-rate posteriors.
    "absrel": CODON_KEYS | {"test results", "Synonymous site-posteriors"},
    "busted": CODON_KEYS | {"Evidence Ratios", "Site Log Likelihood", "Synonymous site-posteriors", "background",
                            "substitutions", "test results"},
    "relax": CODON_KEYS | {"test results"},
    "contrast-fel": CODON_KEYS | {"MLE"},
    "multihit": CODON_KEYS | {"Evidence Ratios", "Site Log Likelihood", "Site substitutions", "test results"},
    "bgm": {"MLE", "analysis", "branch attributes", "data partitions", "fits", "input", "settings", "tested", "timers"},
    "leisr": {"MLE", "analysis", "branch attributes", "data partitions", "fits", "input"},
    "fade": CODON_KEYS | {"MLE", "settings", "site annotations"},
    "gard": {"analysis", "baselineScore", "bestModelAICc", "breakpointData", "improvements", "input",
             "potentialBreakpoints", "singleTreeAICc", "siteBreakPointSupport", "timeElapsed", "totalModelCount",
             "trees"},
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Submit every job, longest first (the queue is FIFO), then poll them all until final."""
    root = tmp_path_factory.mktemp("methods")
    app = build_app(root, LOCAL_MAX_CONCURRENT_JOBS=2)
    client = app.test_client()
    try:
        adh = fixture_id(client, "adh.fasta")
        adh_tree = fixture_id(client, "adh.nwk")
        adh_labelled = fixture_id(client, "adh.labelled.nwk")
        # RELAX gets the NEXUS, whose embedded unlabelled tree HyPhy would silently prefer over
        # --tree: the service must strip it, or RELAX fails for lack of labelled branches.
        adh_nexus = fixture_id(client, str(ADH_NEXUS))
        p51 = fixture_id(client, "p51.protein.fasta")
        p51_tree = fixture_id(client, "p51.rooted.labelled.nwk")
        plain = {"alignment": adh, "tree": adh_tree}
        requests = {  # label → (method, body), in submission order: ~100 s down to ~1 s
            "gard": ("gard", {"alignment": adh}),
            # models=Minimal: HyPhy 2.5.46's optional "general descriptive" RELAX fit sometimes fails
            # on adh with "Constrained optimization failed" (seen once in four runs); the RELAX test
            # itself (null vs alternative) is what this checks.
            "relax": ("relax", {"alignment": adh_nexus, "tree": adh_labelled, "models": "Minimal"}),
            "fade": ("fade", {"alignment": p51, "tree": p51_tree, "branches": ["Test"]}),
            "contrast-fel": ("contrast-fel", {"alignment": adh, "tree": adh_labelled, "branch_sets": ["Test"]}),
            "multihit": ("multihit", plain),
            "meme": ("meme", plain),
            "busted": ("busted", plain),
            "bgm": ("bgm", plain),
            "fel": ("fel", plain),
            "slac": ("slac", plain),
            "absrel": ("absrel", plain),
            "fubar": ("fubar", plain),
            "leisr": ("leisr", plain),
        }
        jobs = {label: (method, start(client, method, body)["job_id"]) for label, (method, body) in requests.items()}
        finished = wait_all(client, jobs)
        yield {"client": client, "jobs": jobs, "finished": finished, "root": root}
    finally:
        kill_leftover_runners([root / "jobs"])


@pytest.mark.parametrize("method", list(EXPECTED_KEYS))
def test_method_completes_with_expected_keys(batch, method):
    body = batch["finished"][method]
    assert body["status"] == "completed", f"{method} did not complete:\n{describe(body)}"
    assert body["job_id"] == batch["jobs"][method][1]
    assert "error_message" not in body
    result = body["result"]
    missing = EXPECTED_KEYS[method] - set(result)
    assert not missing, f"{method} result lacks {sorted(missing)}; has {sorted(result)}"


@pytest.mark.parametrize("method", [m for m in EXPECTED_KEYS if m != "gard"])
def test_result_describes_the_submitted_data(batch, method):
    """HyPhy read the data we sent: 6 adh sequences × 254 codons (LEISR: 762 nucleotides; FADE: 8 p51
    proteins × 440 aa)."""
    info = batch["finished"][method]["result"]["input"]
    expected = {"fade": (8, 440), "leisr": (6, 762)}.get(method, (6, 254))
    assert (info["number of sequences"], info["number of sites"]) == expected, info


def test_relax_used_the_labelled_tree_not_the_embedded_one(batch):
    """The NEXUS's own tree has no labels; RELAX's test set can only come from the uploaded tree."""
    tested = batch["finished"]["relax"]["result"]["tested"]["0"]
    assert {name for name, role in tested.items() if role == "Test"} >= {"SIL", "DIF", "AFF"}, tested
    assert tested["MEL"] != "Test"


def test_gard_screened_the_whole_alignment(batch):
    result = batch["finished"]["gard"]["result"]
    assert result["breakpointData"], result["breakpointData"]
    assert isinstance(result["bestModelAICc"], (int, float))


def test_fel_through_service_equals_direct_hyphy_run(batch, tmp_path):
    """The service adds nothing to FEL: a direct run of the real binary on the same files agrees."""
    service_result = batch["finished"]["fel"]["result"]
    output = tmp_path / "direct.FEL.json"
    argv = [hyphy.pick_binary(), "CPU=1", "fel", "--alignment", str(FIXTURES / "adh.fasta"),
            "--tree", str(FIXTURES / "adh.nwk"), "--output", str(output)]
    run = subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"direct FEL failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr}"
    direct = json.loads(output.read_text())

    ours, theirs = service_result["MLE"], direct["MLE"]
    assert ours["headers"] == theirs["headers"]
    assert ours["content"].keys() == theirs["content"].keys()
    if ours["content"] == theirs["content"]:
        return
    for partition, rows in theirs["content"].items():
        assert len(ours["content"][partition]) == len(rows)
        for site, (mine, reference) in enumerate(zip(ours["content"][partition], rows)):
            assert len(mine) == len(reference)
            for column, (a, b) in enumerate(zip(mine, reference)):
                assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (
                    f"partition {partition} site {site} column {ours['headers'][column][0]}: service {a} vs direct {b}")
