"""Dataset validation against real HyPhy data and real HyPhy verdicts.

1. Every example alignment HyPhy ships uploads, and the codon ones pass FEL's start checks.
2. For a corpus of good and bad inputs (HyPhy's examples and variants of adh), our start verdict
   is compared with what HyPhy 2.5.46 itself does with the same files (a direct `fubar` run:
   it loads codon data and matches tree tips exactly as FEL does, in shared-load-file.bf, and
   finishes in seconds). Where we refuse what HyPhy would run, it is on purpose and listed:
   HyPhy silently pads sequences of unequal length, and runs on 2 sequences.

The job scheduler is a recording fake: what is checked is the start decision, not a run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from service import hyphy
from tests.conftest import ADH_NEXUS, FIXTURES, upload, upload_id
from tests.integration.helpers import INTEGRATION, build_app
from tests.unit.fakes import FakeScheduler
from tests.unit.helpers import PLAIN_TREE

pytestmark = INTEGRATION

DATA = Path("/usr/share/hyphy/data")
HANDBOOK = Path("/usr/share/hyphy/TemplateBatchFiles/Miscellaneous/phylohandbook/datasets")
DOC = Path("/usr/share/doc/hyphy-common/examples")
#: HyPhy's shipped alignments: (path, format, alphabet, codon-coding?)
SHIPPED = [
    (ADH_NEXUS, "nexus", "nucleotide", True),
    (HANDBOOK / "H5N1_HA_5.nex", "nexus", "nucleotide", True),
    (DATA / "integrase_BDA.nex", "nexus", "nucleotide", True),
    (DATA / "p51.nex", "nexus", "nucleotide", True),
    (DATA / "p51.aa", "nexus", "protein", False),
    (DATA / "brown.nuc", "fasta", "nucleotide", False),  # "#name" headers, non-coding (895 nt)
]
ADH = [(name[1:], seq) for name, seq in zip(*[iter((FIXTURES / "adh.fasta").read_text().split())] * 2)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = build_app(tmp_path_factory.mktemp("bio-validation"), scheduler=FakeScheduler())
    return app.test_client()


@pytest.mark.parametrize(("path", "fmt", "alphabet", "coding"), SHIPPED, ids=lambda v: getattr(v, "name", None))
def test_every_shipped_example_uploads_and_codon_ones_pass_fel_start(client, path, fmt, alphabet, coding):
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    response = upload(client, path, name=path.name)
    assert response.status_code == 201, response.text
    dataset = response.json()["datasets"][0]
    assert (dataset["format"], dataset["alphabet"]) == (fmt, alphabet)
    started = client.post("/api/v1/methods/fel-start", json={"alignment": dataset["id"]})
    if coding:
        assert started.status_code == 200, started.text
    else:
        assert started.status_code == 422, started.text  # protein, or not a multiple of 3


# -- our verdict vs HyPhy's -------------------------------------------------------------------
def fasta(rows) -> str:
    return "".join(f">{name}\n{seq}\n" for name, seq in rows)


def renamed(names) -> str:
    return fasta((name, seq) for name, (_, seq) in zip(names, ADH))


def codon(index: int, number: int, replacement: str, rows=ADH) -> str:
    rows = [list(r) for r in rows]
    rows[index][1] = rows[index][1][:3 * number - 3] + replacement + rows[index][1][3 * number:]
    return fasta(rows)


def tree(*tips: str) -> str:
    return "({},{},({},(({},{}),{})));\n".format(*tips)


NAMES = [name for name, _ in ADH]
FULL = fasta(ADH)


@dataclass(frozen=True)
class Case:
    id: str
    alignment: str | Path
    tree: str | None = PLAIN_TREE
    ours: str = ""  # "" = accepted; else a phrase the 422 message must contain
    hyphy_runs: bool = True
    code: str = "Universal"


CASES = [
    # accepted by both
    Case("adh", ADH_NEXUS, None),
    Case("h5n1", HANDBOOK / "H5N1_HA_5.nex", None),
    Case("integrase", DATA / "integrase_BDA.nex", None),
    Case("p51", DATA / "p51.nex", None),
    Case("doc-aspectrin", DOC / "Categories/data/aspectrin.nuc", None),
    Case("doc-hiv-multiline-tree", DOC / "SimpleAnalyses/data/hiv.nuc", None),
    Case("lowercase-names", renamed(n.lower() for n in NAMES)),
    Case("dash-names-underscore-tips", renamed(f"{n}-1" for n in NAMES), tree(*(f"{n}_1" for n in NAMES))),
    Case("dash-names-quoted-tips", renamed(f"{n}-1" for n in NAMES), tree(*(f"'{n}-1'" for n in NAMES))),
    Case("names-differing-in-case", renamed(["MEL", "mel", "ERE", "SIL", "DIF", "AFF"]),
         tree("MEL", "mel", "ERE", "SIL", "DIF", "AFF")),
    Case("codon-TAN", codon(0, 11, "TAN")),
    Case("codon-T-A", codon(0, 11, "T-A")),
    Case("TGA-is-Trp-in-vertebrate-mtDNA", codon(2, 40, "TGA"), code="Vertebrate mtDNA"),
    # refused by both
    Case("internal-stop", codon(2, 12, "TGA"), ours="'ERE' codon 12 (TGA", hyphy_runs=False),
    Case("ambiguous-stop-TAR", codon(0, 11, "TAR"), ours="'MEL' codon 11 (TAR", hyphy_runs=False),
    Case("terminal-stops", fasta((n, s[:-3] + "TAA") for n, s in ADH), ours="remove the alignment's last 3 columns",
         hyphy_runs=False),
    Case("length-761", fasta((n, s[:-1]) for n, s in ADH), ours="761 nucleotides long", hyphy_runs=False),
    Case("duplicate-names", renamed(["MEL", "MEL", "ERE", "SIL", "DIF", "AFF"]), tree("MEL", "MA", "ERE", "SIL", "DIF", "AFF"),
         ours="'MEL' (2 times)", hyphy_runs=False),
    Case("foreign-tip", FULL, (FIXTURES / "adh.mismatch.nwk").read_text(), ours="tips not in the alignment: 'XYZ'",
         hyphy_runs=False),
    Case("tree-missing-a-sequence", FULL, "(MEL,MA,(ERE,(SIL,DIF)));", ours="sequences not in the tree: 'AFF'",
         hyphy_runs=False),
    Case("fasta-description-in-name", fasta((f"{n} adh", s) for n, s in ADH), ours="whole header line", hyphy_runs=False),
    Case("protein", DATA / "p51.aa", None, ours="holds protein sequences", hyphy_runs=False),
    Case("doc-numeric-tips", DOC / "SimpleConstraints/data/aspectrin1.nuc", None, ours="not numbers", hyphy_runs=False),
    Case("doc-terminal-stop", DOC / "MoreComplexModels/data/ubiq.flt", None, ours="end with a stop codon", hyphy_runs=False),
    Case("doc-phylip-terminal-stops", DOC / "SimpleConstraints/data/3.seq", None, ours="end with a stop codon",
         hyphy_runs=False),
    Case("brown-non-coding", DATA / "brown.nuc", None, ours="not a multiple of 3", hyphy_runs=False),
    # refused by us on purpose, although HyPhy runs them
    Case("truncated-fasta", FULL[: len(FULL) - 300], ours="was the file cut short?"),
    Case("two-sequences", fasta(ADH[:2]), "(MEL,MA);", ours="at least 3"),
]


def hyphy_runs(tmp_path: Path, alignment: Path, tree_file: Path | None, code: str) -> tuple[bool, str]:
    """Does HyPhy's FUBAR accept these files (exit 0, no Error:)? And its output, for messages."""
    from service.methods.options import GENETIC_CODES

    argv = [hyphy.pick_binary(), "CPU=1", "fubar", "--code", GENETIC_CODES[code], "--alignment", str(alignment)]
    if tree_file is not None:
        argv += ["--tree", str(tree_file)]
    argv += ["--output", str(tmp_path / "fubar.json"), "--cache", str(tmp_path / "fubar.cache")]
    run = subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
                         check=False)
    return run.returncode == 0 and "Error:" not in run.stdout, run.stdout[-2000:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_our_verdict_matches_hyphys(client, tmp_path, case):
    if isinstance(case.alignment, Path):
        if not case.alignment.exists():
            pytest.skip(f"{case.alignment} is not installed")
        alignment = tmp_path / case.alignment.name
        alignment.write_bytes(case.alignment.read_bytes())
    else:
        alignment = tmp_path / "alignment.fas"
        alignment.write_text(case.alignment)
    tree_file = None
    body = {"alignment": upload_id(client, alignment.read_bytes(), name=alignment.name), "genetic_code": case.code}
    if case.tree is not None:
        tree_file = tmp_path / "tree.nwk"
        tree_file.write_text(case.tree)
        body["tree"] = upload_id(client, case.tree, name="tree.nwk")

    response = client.post("/api/v1/methods/fubar-start", json=body)
    accepted, output = hyphy_runs(tmp_path, alignment, tree_file, case.code)

    if case.ours:
        assert response.status_code == 422, response.text
        assert case.ours in response.text, response.text
    else:
        assert response.status_code == 200, response.text
    assert accepted == case.hyphy_runs, f"HyPhy {'ran' if accepted else 'refused'}:\n{output}"
