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
