"""What a method needs from its data (Method.data), checked at start before anything is submitted."""

import pytest

from tests.conftest import ADH_NEXUS, FIXTURES, P51_PROTEIN, upload, upload_id
from tests.unit.helpers import PLAIN_TREE, error_fields, start


@pytest.mark.parametrize(("content", "alphabet", "fmt"), [
    (ADH_NEXUS, "nucleotide", "nexus"),
    (P51_PROTEIN, "protein", "nexus"),
    (FIXTURES / "adh.fasta", "nucleotide", "fasta"),
    (FIXTURES / "p51.protein.fasta", "protein", "fasta"),
    (PLAIN_TREE, "unknown", "newick"),
    ("just some words\n", "unknown", "unknown"),
])
def test_upload_records_format_and_alphabet(client, content, alphabet, fmt):
    dataset = upload(client, content).json()["datasets"][0]
    assert (dataset["format"], dataset["alphabet"]) == (fmt, alphabet)


def test_codon_method_refuses_a_protein_alignment(client, fake):
    protein = upload_id(client, P51_PROTEIN)
    response = start(client, "fel", {"alignment": protein})
    assert error_fields(response) == ["alignment"]
    assert "protein" in response.json()["errors"][0]["message"]
    assert fake.submitted == {}


def test_protein_method_refuses_a_nucleotide_alignment(client, fake):
    codon = upload_id(client, ADH_NEXUS)
    response = start(client, "fade", {"alignment": codon})
    assert error_fields(response) == ["alignment"]
    assert "nucleotide" in response.json()["errors"][0]["message"]
    assert fake.submitted == {}


def test_any_data_methods_take_either(client, fake):
    protein = upload_id(client, P51_PROTEIN)
    assert start(client, "gard", {"alignment": protein, "data_type": "Protein"}).status_code == 200


def test_a_tree_is_not_an_alignment_and_an_alignment_is_not_a_tree(client, fake):
    tree = upload_id(client, PLAIN_TREE)
    alignment = upload_id(client, FIXTURES / "adh.fasta")
    assert error_fields(start(client, "fel", {"alignment": tree})) == ["alignment"]
    assert error_fields(start(client, "fel", {"alignment": alignment, "tree": alignment})) == ["tree"]
    assert fake.submitted == {}


def test_hyphys_hash_fasta_is_recognised(client):
    """HyPhy reads '#name' headers like '>name' (its data/brown.nuc, the doc examples)."""
    dataset = upload(client, "#a\nACGTACGT\n#b\nACGTACGA\n#c\nACGTACGG\n").json()["datasets"][0]
    assert (dataset["format"], dataset["alphabet"]) == ("fasta", "nucleotide")


def test_an_alignment_in_no_known_format_is_refused(client, fake):
    text = upload_id(client, "just some words\n")
    tree = upload_id(client, PLAIN_TREE)
    response = start(client, "fel", {"alignment": text, "tree": tree})
    assert error_fields(response) == ["alignment"]
    assert f"dataset {text} is not an alignment in a format HyPhy reads" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("method", "options", "content", "needs"), [
    ("gard", {}, P51_PROTEIN, "GARD with this data type needs a nucleotide alignment"),
    ("gard", {"data_type": "Protein"}, ADH_NEXUS, "GARD with this data type needs a protein alignment"),
    ("bgm", {}, P51_PROTEIN, "BGM with this data type needs an in-frame codon (nucleotide) alignment"),
    ("bgm", {"data_type": "amino-acid"}, ADH_NEXUS, "BGM with this data type needs a protein alignment"),
    ("leisr", {"type": "Protein"}, ADH_NEXUS, "LEISR with this data type needs a protein alignment"),
])
def test_any_data_methods_need_the_kind_their_data_type_says(client, fake, method, options, content, needs):
    response = start(client, method, {"alignment": upload_id(client, content), **options})
    assert error_fields(response) == ["alignment"]
    assert response.json()["errors"][0]["message"].startswith(needs)
    assert fake.submitted == {}


@pytest.mark.parametrize(("method", "options", "content"), [
    ("bgm", {"data_type": "amino-acid"}, P51_PROTEIN),
    ("bgm", {"data_type": "nucleotide"}, ADH_NEXUS),
    ("leisr", {}, ADH_NEXUS),
    ("leisr", {"type": "Protein"}, P51_PROTEIN),
    ("gard", {}, ADH_NEXUS),
])
def test_any_data_methods_take_the_kind_their_data_type_says(client, fake, method, options, content):
    assert start(client, method, {"alignment": upload_id(client, content), **options}).status_code == 200


def test_codon_checks_apply_to_bgm_in_codon_mode_only(client, fake):
    """BGM reads codons (with HyPhy's stop-codon check) only with data_type codon, its default."""
    rows = (FIXTURES / "adh.fasta").read_text().split()
    rows[1] = rows[1][:30] + "TAA" + rows[1][33:]
    stop = upload_id(client, "\n".join(rows) + "\n")
    tree = upload_id(client, PLAIN_TREE)
    assert "stop codons" in start(client, "bgm", {"alignment": stop, "tree": tree}).json()["errors"][0]["message"]
    assert start(client, "bgm", {"alignment": stop, "tree": tree, "data_type": "nucleotide"}).status_code == 200
