"""Dataset validation with Biopython: what a method needs inside its data, and the upload limits.

Every refusal is a 422 InvalidDataError whose message names the dataset and the problem; the
rules are HyPhy 2.5.46's as observed (tests/integration/test_bio_validation_examples.py runs
HyPhy on the same cases).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.config import ConfigError, Settings
from service.datasets import embedded_tree
from service.datasets import profile as profile_module
from service.datasets.profile import STOP_CODONS, build_profile, name_key, stop_report
from service.methods.options import GENETIC_CODES
from tests.conftest import ADH_NEXUS, FIXTURES, P51_PROTEIN, upload, upload_id
from tests.unit.helpers import PLAIN_TREE, error_fields, files_under, start

ADH = [(line[1:], seq) for line, seq in zip(*[iter((FIXTURES / "adh.fasta").read_text().split())] * 2)]
NAMES = [name for name, _ in ADH]
CHOOSE_GENETIC_CODE = Path("/usr/share/hyphy/TemplateBatchFiles/TemplateModels/chooseGeneticCode.def")


def fasta(rows) -> str:
    return "".join(f">{name}\n{seq}\n" for name, seq in rows)


def with_codon(index: int, codon_number: int, codon: str, rows=ADH):
    """ADH with sequence `index`'s codon `codon_number` (1-based) replaced."""
    rows = [list(r) for r in rows]
    seq = rows[index][1]
    start_at = 3 * (codon_number - 1)
    rows[index][1] = seq[:start_at] + codon + seq[start_at + 3:]
    return [tuple(r) for r in rows]


def messages(response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["message"] for e in response.json()["errors"]]


def start_fel(client, content, tree: str | None = PLAIN_TREE, **options):
    body = {"alignment": upload_id(client, content), **options}
    if tree is not None:
        body["tree"] = upload_id(client, tree, name="tree.nwk")
    return start(client, "fel", body), body["alignment"]


# -- the done-when cases ----------------------------------------------------------------------
def test_a_truncated_fasta_is_refused_naming_the_short_sequence(client, fake):
    text = fasta(ADH)
    response, ds_id = start_fel(client, text[: len(text) - 300])
    [message] = messages(response)
    assert error_fields(response) == ["alignment"]
    assert ds_id in message and "not aligned" in message
    assert "'AFF' (" in message and "5 of 6 have 762 characters" in message
    assert "cut short" in message
    assert fake.submitted == {}


@pytest.mark.parametrize(("content", "problem"), [
    (b">a\nATG\x00\x01\x02TTG\n", "binary content (NUL bytes)"),
    (b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" * 50, "not UTF-8 text"),
])
def test_a_binary_file_is_refused_at_upload_and_nothing_is_kept(client, settings_overrides, content, problem):
    response = upload(client, content)
    assert error_fields(response) == ["file"]
    assert problem in messages(response)[0]
    root = Path(settings_overrides["DATASET_LOCATION"])
    assert files_under(root / "blobs") == files_under(root / "records") == files_under(root / "incoming") == []


def test_a_protein_alignment_sent_to_fel_is_refused(client, fake):
    response, ds_id = start_fel(client, P51_PROTEIN, tree=None)
    [message] = messages(response)
    assert message == f"FEL needs an in-frame codon (nucleotide) alignment; dataset {ds_id} holds protein sequences"


def test_a_tree_with_foreign_tip_names_is_refused_listing_both_sides(client, fake):
    alignment = upload_id(client, FIXTURES / "adh.fasta")
    tree = upload_id(client, FIXTURES / "adh.mismatch.nwk", name="mismatch.nwk")
    response = start(client, "fel", {"alignment": alignment, "tree": tree})
    assert error_fields(response) == ["tree"]
    [message] = messages(response)
    assert message.startswith(f"dataset {tree} and dataset {alignment} must name the same sequences")
    assert "tips not in the alignment: 'XYZ'" in message and "sequences not in the tree: 'AFF'" in message
    assert fake.submitted == {}


def test_an_internal_stop_codon_is_refused_naming_sequence_and_codon(client, fake):
    response, ds_id = start_fel(client, fasta(with_codon(2, 12, "TGA")))
    [message] = messages(response)
    assert error_fields(response) == ["alignment"]
    assert message.startswith(f"dataset {ds_id} has stop codons (genetic code Universal) in 1 of 6 sequences")
    assert "'ERE' codon 12 (TGA, nucleotides 34-36)" in message
    assert "remove them or replace them with gaps" in message and "genetic_code" in message


def test_a_length_that_is_not_a_multiple_of_3_is_refused_saying_the_length(client, fake):
    response, ds_id = start_fel(client, fasta([(name, seq[:-1]) for name, seq in ADH]))
    [message] = messages(response)
    assert message == (f"dataset {ds_id} is 761 nucleotides long, which is not a multiple of 3 (253 codons and 2 "
                       "nucleotides left over): a codon method needs an in-frame coding alignment")


def test_duplicate_names_are_refused_listing_them(client, fake):
    rows = [("MEL", ADH[0][1]), ("MEL", ADH[1][1]), ("ERE", ADH[2][1]), ("SIL", ADH[3][1]), ("SIL", ADH[4][1]),
            ("AFF", ADH[5][1])]
    response, ds_id = start_fel(client, fasta(rows))  # (the tree mismatch is reported too)
    found = messages(response)
    assert f"dataset {ds_id} gives the same name to more than one sequence: 'MEL' (2 times), 'SIL' (2 times); " \
           "every sequence needs its own name" in found


def test_fewer_than_three_sequences_are_refused(client, fake):
    response, ds_id = start_fel(client, fasta(ADH[:2]), tree="(MEL,MA);")
    assert messages(response) == [(f"dataset {ds_id} holds 2 sequences; HyPhy needs at least 3 to build a tree "
                                   "and test for selection")]


# -- more of HyPhy's rules --------------------------------------------------------------------
def test_a_terminal_stop_codon_is_refused_too_with_the_fix(client, fake):
    """HyPhy 2.5.46 refuses a final stop codon (reference §7 d2): say which columns to drop."""
    rows = [(name, seq[:-3] + "TAA") for name, seq in ADH]
    response, _ = start_fel(client, fasta(rows))
    [message] = messages(response)
    assert "6 of 6 sequences end with a stop codon (genetic code Universal) at codon 254, nucleotides 760-762: " \
           "'MEL' (TAA), 'MA' (TAA)" in message
    assert "not even a final one: remove the alignment's last 3 columns" in message


def test_a_terminal_stop_in_some_sequences_only_is_listed_as_the_last_codon(client, fake):
    response, _ = start_fel(client, fasta(with_codon(4, 254, "TAG")))
    [message] = messages(response)
    assert "in 1 of 6 sequences: 'DIF' codon 254 (TAG, nucleotides 760-762, the last codon)" in message


@pytest.mark.parametrize(("codon", "stop"), [
    ("TAR", True),   # TAA or TAG: a stop however read (HyPhy refuses it)
    ("TRA", True),   # TAA or TGA
    ("tga", True),   # lower case
    ("UAG", True),   # RNA
    ("TAN", False),  # could be TAC/TAT (Tyr)
    ("T-A", False),  # a gap
    ("NNN", False),
    ("---", False),
    ("TA?", False),
])
def test_ambiguous_codons_are_stops_only_when_every_reading_is(client, fake, codon, stop):
    response, _ = start_fel(client, fasta(with_codon(0, 11, codon)))
    if stop:
        assert "'MEL' codon 11" in messages(response)[0]
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("codon", "code", "stop"), [
    ("TGA", "Universal", True),
    ("TGA", "Vertebrate mtDNA", False),  # Trp there
    ("AGA", "Vertebrate mtDNA", True),
    ("AGA", "Universal", False),
    ("TAA", "Ciliate Nuclear", False),   # Gln there
    ("TAG", "Flatworm mtDNA", True),
])
def test_stop_codons_follow_the_requested_genetic_code(client, fake, codon, code, stop):
    response, _ = start_fel(client, fasta(with_codon(3, 40, codon)), genetic_code=code)
    if stop:
        assert f"(genetic code {code})" in messages(response)[0] and "'SIL' codon 40" in messages(response)[0]
    else:
        assert response.status_code == 200, response.text


def test_many_stops_are_summarised(client, fake):
    rows = ADH
    for index in range(6):
        rows = with_codon(index, 5, "TAG", rows)
        rows = with_codon(index, 9, "TAA", rows)
    response, _ = start_fel(client, fasta(rows))
    [message] = messages(response)
    assert "'MEL' codon 5 (TAG, nucleotides 13-15) and 1 more" in message and "in 6 of 6 sequences" in message


@pytest.mark.parametrize(("names", "tips"), [
    (NAMES, [n.lower() for n in NAMES]),                       # case is ignored
    ([f"{n}-1" for n in NAMES], [f"{n}_1" for n in NAMES]),     # punctuation reads as '_'
    ([f"{n}-1" for n in NAMES], [f"'{n}-1'" for n in NAMES]),   # quoted original names
    ([f"{n} 1" for n in NAMES], [f"{n}_1" for n in NAMES]),     # spaces too
    ([f"{n}||x" for n in NAMES], [f"{n}_x" for n in NAMES]),    # a run of them is one '_'
])
def test_tips_match_names_as_hyphy_normalises_them(client, fake, names, tips):
    rows = [(name, seq) for name, (_, seq) in zip(names, ADH)]
    tree = "({},{},({},(({},{}),{})));".format(*tips)
    response, _ = start_fel(client, fasta(rows), tree=tree)
    assert response.status_code == 200, response.text


def test_a_fasta_name_is_the_whole_header_line(client, fake):
    rows = [(f"{name} Drosophila adh", seq) for name, seq in ADH]
    response, _ = start_fel(client, fasta(rows))  # PLAIN_TREE names only the first words
    [message] = messages(response)
    assert "'MEL Drosophila adh'" in message and "tips not in the alignment: 'MEL'" in message
    assert "a FASTA sequence name is the whole header line" in message


def test_an_embedded_tree_is_checked_too(client, fake):
    text = ADH_NEXUS.read_text().replace("(MEL,MA,(ERE,((SIL,DIF),AFF)))", "(MEL,MA,(ERE,((SIL,DIF),ZZZ)))")
    ds_id = upload_id(client, text)
    [message] = messages(start(client, "fel", {"alignment": ds_id}))
    assert message.startswith(f"the tree embedded in dataset {ds_id} and dataset {ds_id} must name the same sequences")
    assert "'ZZZ'" in message and "'AFF'" in message


def test_a_tree_that_cannot_be_read_is_refused(client, fake):
    response, _ = start_fel(client, fasta(ADH), tree="(MEL,MA,(ERE,((SIL,DIF),AFF));")
    [message] = messages(response)
    assert error_fields(response) == ["tree"] and "could not be read as a tree" in message


def test_several_problems_come_in_one_response(client, fake):
    rows = with_codon(1, 7, "TAG", [("MEL", ADH[0][1]), ("MEL", ADH[1][1])] + ADH[2:])
    response, _ = start_fel(client, fasta(rows), tree="(MEL,MA,(ERE,((SIL,DIF),XYZ)));")
    found = messages(response)
    assert error_fields(response) == ["alignment", "alignment", "tree"]
    assert "same name" in found[0] and "'MEL' codon 7 (TAG" in found[1] and "'XYZ'" in found[2]


def test_a_nucleotide_method_with_unreadable_content_says_why(client, fake):
    ds_id = upload_id(client, "#NEXUS\nbegin data; dimensions ntax=3 nchar=6; matrix\nA ACGTAC\nB ACG")
    [message] = messages(start(client, "fel", {"alignment": ds_id, "tree": upload_id(client, "(A,B,C);")}))
    assert message == (f"dataset {ds_id} could not be read as NEXUS: the file ends inside the MATRIX command "
                       "(no closing ';'): was it cut short?")


def test_protein_methods_get_the_alignment_checks_but_not_the_codon_ones(client, fake):
    protein = upload_id(client, FIXTURES / "p51.protein.fasta")
    tree = upload_id(client, FIXTURES / "p51.rooted.labelled.nwk")
    assert start(client, "fade", {"alignment": protein, "tree": tree}).status_code == 200
    text = (FIXTURES / "p51.protein.fasta").read_text().replace(">B_US_83_RF", ">B_FR_83_HXB2")
    duplicate, mismatch = messages(start(client, "fade", {"alignment": upload_id(client, text), "tree": tree}))
    assert "'B_FR_83_HXB2' (2 times)" in duplicate and "tips not in the alignment: 'B_US_83_RF'" in mismatch


def test_all_hyphy_example_codon_alignments_pass_fel_start(client, fake):
    for path in (ADH_NEXUS, Path("/usr/share/hyphy/data/integrase_BDA.nex"), Path("/usr/share/hyphy/data/p51.nex"),
                 Path("/usr/share/hyphy/TemplateBatchFiles/Miscellaneous/phylohandbook/datasets/H5N1_HA_5.nex")):
        if path.exists():
            response = start(client, "fel", {"alignment": upload_id(client, path, name=path.name)})
            assert response.status_code == 200, (path, response.text)


# -- cost: profiles once per content, nothing expensive on polls --------------------------------
@pytest.fixture
def counted(monkeypatch):
    calls = {"build_profile": 0, "stop_report": 0}
    for name in calls:
        real = getattr(profile_module, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(profile_module, name, counting)
    return calls


def test_profiles_are_computed_once_per_content_and_polls_compute_nothing(client, fake, counted):
    first = upload_id(client, ADH_NEXUS, token="alice-token-0123456789")
    upload_id(client, ADH_NEXUS, token="bob-token-0123456789")  # same bytes, another owner
    assert counted == {"build_profile": 1, "stop_report": 0}
    headers = {"user_token": "alice-token-0123456789"}
    assert client.post("/api/v1/methods/fel-start", json={"alignment": first}, headers=headers).status_code == 200
    assert client.post("/api/v1/methods/meme-start", json={"alignment": first}, headers=headers).status_code == 200
    assert counted == {"build_profile": 1, "stop_report": 1}  # one stop scan per content and genetic code
    for _ in range(3):
        assert client.post("/api/v1/methods/fel-result", json={"alignment": first}, headers=headers).status_code == 200
    assert counted == {"build_profile": 1, "stop_report": 1}


def test_datasets_stored_before_profiles_existed_are_profiled_on_first_use(client, fake, services, settings_overrides):
    ds_id = upload_id(client, ADH_NEXUS)
    profiles = Path(settings_overrides["DATASET_LOCATION"]) / "profiles"
    for path in files_under(profiles):
        path.unlink()
    services.datasets.profiles.forget(services.datasets.tracker.get(ds_id).content_sha256)
    assert start(client, "fel", {"alignment": ds_id}).status_code == 200
    assert {p.name.split(".", 1)[1] for p in files_under(profiles)} == {"profile.json", "stops-Universal.json"}


def test_a_profile_of_an_older_version_is_recomputed(client, fake, services, counted):
    ds_id = upload_id(client, ADH_NEXUS)
    tracker = services.datasets.tracker
    sha = tracker.get(ds_id).content_sha256
    tracker.write_sidecar(sha, "profile", {**tracker.read_sidecar(sha, "profile"), "version": 0, "names": []})
    services.datasets.profiles.forget(sha)
    assert start(client, "fel", {"alignment": ds_id}).status_code == 200
    assert counted["build_profile"] == 2
    assert tracker.read_sidecar(sha, "profile")["version"] == profile_module.PROFILE_VERSION


def test_deleting_the_last_dataset_of_a_content_removes_its_profiles(client, fake, settings_overrides):
    ds_id = upload_id(client, ADH_NEXUS)
    job_id = start(client, "fel", {"alignment": ds_id}).json()["job_id"]
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert client.delete(f"/api/v1/datasets/{ds_id}").status_code == 204
    assert files_under(Path(settings_overrides["DATASET_LOCATION"]) / "profiles") == []


# -- limits -----------------------------------------------------------------------------------
def set_limits(services, sequences: int, sites: int) -> None:
    """DATASET_MAX_SEQUENCES / DATASET_MAX_SITES as build_services passes them to the DatasetService."""
    services.datasets.max_sequences = sequences
    services.datasets.max_sites = sites


@pytest.mark.parametrize(("sequences", "sites", "message"), [
    (5, 0, ("the dataset holds 6 sequences; this server accepts at most 5 sequences per dataset "
            "(DATASET_MAX_SEQUENCES)")),
    (0, 761, ("the alignment is 762 sites (columns) long; this server accepts at most 761 sites per dataset "
              "(DATASET_MAX_SITES)")),
])
def test_an_upload_over_a_limit_is_refused_and_nothing_is_stored(client, services, settings_overrides,
                                                                 sequences, sites, message):
    set_limits(services, sequences, sites)
    response = upload(client, ADH_NEXUS)
    assert error_fields(response) == ["file"] and messages(response) == [message]
    root = Path(settings_overrides["DATASET_LOCATION"])
    for folder in ("blobs", "records", "incoming", "owners", "profiles"):
        assert files_under(root / folder) == [], folder
    assert client.get("/api/v1/datasets").json()["datasets"] == []


def test_both_limits_are_reported_together_and_0_means_unlimited(client, services):
    set_limits(services, 2, 10)
    assert len(messages(upload(client, ADH_NEXUS))) == 2
    set_limits(services, 0, 0)
    assert upload(client, ADH_NEXUS).status_code == 201


def test_a_tree_counts_its_tips_against_the_sequence_limit(client, services):
    set_limits(services, 5, 0)
    assert "6 tree tips" in messages(upload(client, PLAIN_TREE))[0]


def test_a_known_content_over_the_limit_is_refused_for_everyone_but_kept_for_its_owner(client, services):
    ds_id = upload_id(client, ADH_NEXUS)
    set_limits(services, 5, 0)
    assert upload(client, ADH_NEXUS, token="someone-else-0123456789").status_code == 422
    assert client.get(f"/api/v1/datasets/{ds_id}").status_code == 200


def test_limit_settings_default_and_validate():
    settings = Settings.from_mapping({})
    assert (settings.DATASET_MAX_SEQUENCES, settings.DATASET_MAX_SITES) == (5000, 100_000)
    assert Settings.from_mapping({"DATASET_MAX_SEQUENCES": "0", "DATASET_MAX_SITES": "7"}).DATASET_MAX_SITES == 7
    for name in ("DATASET_MAX_SEQUENCES", "DATASET_MAX_SITES"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_mapping({name: "-1"})
        with pytest.raises(ConfigError, match=name):
            Settings.from_mapping({name: "many"})


def test_limits_are_documented_in_env_example():
    text = (Path(__file__).parents[2] / ".env.example").read_text()
    assert re.search(r"^DATASET_MAX_SEQUENCES=5000$", text, re.MULTILINE) and re.search(r"^DATASET_MAX_SITES=100000$", text, re.MULTILINE)


# -- reading formats (profile) ----------------------------------------------------------------
def profile_of(tmp_path, text: str, fmt: str):
    path = tmp_path / "data"
    path.write_text(text, newline="")
    return build_profile(path, fmt)


def test_nexus_interleaved_matchchar_and_comments(tmp_path):
    text = """#NEXUS
[ a comment; with a semicolon ]
BEGIN DATA;
  DIMENSIONS NTAX=3 NCHAR=8;
  FORMAT DATATYPE=DNA MISSING=? GAP=- INTERLEAVE MATCHCHAR=.;
  MATRIX
    'seq one'  ACGT
    two        ..G.
    three      A{CT}GT
    'seq one'  TTAA
    two        ....
    three      TT-A
  ;
END;
BEGIN TREES;
  TRANSLATE 1 'seq one', 2 two, 3 three;
  TREE t = [&U] (1,2,3{Test});
END;
"""
    found = profile_of(tmp_path, text, "nexus")
    assert found.problem == ""
    assert found.names == ("seq one", "two", "three") and found.lengths == (8, 8, 8)
    assert found.tree.tips == ("seq one", "two", "three") and found.tree.labels == ("Test",)
    rows, _ = profile_module._nexus_rows(text)
    assert rows[1][1] == "ACGTTTAA"


def test_nexus_repeated_taxa_are_kept_not_renamed(tmp_path):
    """Bio.Nexus would rename the second 'MEL' to 'MEL.copy' and hide the problem."""
    text = ADH_NEXUS.read_text().replace("'MA'", "'MEL'")
    assert profile_of(tmp_path, text, "nexus").names.count("MEL") == 2


@pytest.mark.parametrize(("cut", "problem"), [
    (lambda t: t[: t.rindex("'AFF'") + 100], "the file ends inside the MATRIX command"),
    (lambda t: t.replace("NTAX = 6", "NTAX = 7"), "DIMENSIONS says NTAX=7 but the MATRIX holds 6 sequences"),
    (lambda t: t[: t.index("MATRIX")], "no MATRIX"),
])
def test_nexus_problems_are_reported(tmp_path, cut, problem):
    assert problem in profile_of(tmp_path, cut(ADH_NEXUS.read_text()), "nexus").problem


def test_sequential_nexus_rows_may_wrap(tmp_path):
    text = ("#NEXUS\nbegin taxa; dimensions ntax=3; taxlabels a b c; end;\n"
            "begin characters; dimensions nchar=6; matrix\na ACG\nTAC\nb ACGTAC\nc ACG TAC\n;\nend;\n")
    found = profile_of(tmp_path, text, "nexus")
    assert found.names == ("a", "b", "c") and found.lengths == (6, 6, 6)


def test_classic_mac_line_endings_and_hyphy_hash_headers(tmp_path):
    text = "#a\rACGTAC\r#b\rACGTAC\r#c\rACG\rTAC\r((a,b),c);"
    found = profile_of(tmp_path, text, "fasta")
    assert found.names == ("a", "b", "c") and found.lengths == (6, 6, 6) and found.tree.tips == ("a", "b", "c")


def test_fasta_trailing_tree_may_span_lines(tmp_path):
    found = profile_of(tmp_path, ">a\nACG\n>b\nACG\n>c\nACG\n((a,\nb),\nc)\n", "fasta")
    assert found.lengths == (3, 3, 3) and found.tree.tips == ("a", "b", "c") and found.tree.rooted


def test_phylip_with_hyphys_trailing_tree(tmp_path):
    text = "3 6\na         ACGTAC\nb         ACGTAC\nc         ACG\n          TAC\n\n1\n((a,b),c);\n"  # as 3.seq
    found = profile_of(tmp_path, text, "phylip")
    assert found.names == ("a", "b", "c") and found.lengths == (6, 6, 6) and found.tree.tips == ("a", "b", "c")


def test_stop_report_lists_positions_in_frame_only(tmp_path):
    path = tmp_path / "a.fas"
    path.write_text(">a\nATAAGTTAGTGA\n>b\nATGATGATG\n")
    report = stop_report(path, "fasta", "Universal")
    assert report.by_sequence == {0: (2, ((2, "TAG"), (3, "TGA")))}  # ATA AGT TAG TGA: the TAA is out of frame


def test_name_key():
    assert name_key("MEL-1") == name_key("mel 1") == name_key("MEL_1") == "MEL_1"
    assert name_key("a--b") == "A_B" != name_key("a__b")
    assert name_key("1g") == "1G"


def test_every_spec_genetic_code_has_stop_codons():
    assert set(GENETIC_CODES.values()) <= set(STOP_CODONS)


@pytest.mark.skipif(not CHOOSE_GENETIC_CODE.exists(), reason="HyPhy's library is not installed")
def test_stop_codons_are_hyphys():
    """STOP_CODONS equals GeneticCodeExclusions per code in the installed HyPhy library."""
    text = CHOOSE_GENETIC_CODE.read_text()
    names = re.findall(r'\{\s*"([^"]+)",\s*"[^"]*"\s*\}', text[text.index("_geneticCodeOptionMatrix"):
                                                                 text.index("_hyphyAAOrdering")])
    body = text[text.index("function ApplyGeneticCodeTable"):]
    default = re.search(r'GeneticCodeExclusions = "([^"]+)"', body).group(1)
    exclusions = {0: default}
    for match in re.finditer(r"if \(myModelType == (\d+)\)(.*?)return myModelType", body, re.DOTALL):
        found = re.search(r'GeneticCodeExclusions = "([^"]+)"', match.group(2))
        exclusions[int(match.group(1))] = found.group(1) if found else default
    hyphy = {name: frozenset(exclusions.get(i, default).split(",")) for i, name in enumerate(names)}
    assert hyphy == STOP_CODONS


def test_a_nexus_tree_file_with_translate_is_a_tree(client, fake):
    nexus_tree = ("#NEXUS\nbegin trees;\n translate 1 MEL, 2 MA, 3 ERE, 4 SIL, 5 DIF, 6 AFF;\n"
                  " tree t = [&U] (1,2{Test},(3,((4,5),6)));\nend;\n")
    response, _ = start_fel(client, fasta(ADH), tree=nexus_tree)
    assert response.status_code == 200, response.text


def test_a_nexus_file_without_trees_is_not_a_tree(client, fake):
    no_trees = ADH_NEXUS.read_text()[: ADH_NEXUS.read_text().index("BEGIN TREES")]
    response, _ = start_fel(client, fasta(ADH), tree=no_trees)
    assert error_fields(response) == ["tree"] and "holds no tree" in messages(response)[0]


@pytest.mark.parametrize(("tail", "embedded"), [
    ("(a,b,c);", True),
    ("(a,b,c)", True),                # HyPhy's own examples omit the ';'
    ("((a,b),\nc);", True),           # HyPhy reads a tree on over lines until its parentheses close
    ("ACGT", False),
])
def test_fasta_embedded_tree_detection(tail, embedded):
    text = f">a\nACGT\n>b\nACGT\n>c\nACGT\n{tail}\n"
    assert embedded_tree.has_embedded_tree(text, "fasta") is embedded
    assert embedded_tree.split(text, "fasta") == ((">a\nACGT\n>b\nACGT\n>c\nACGT\n", f"{tail}\n") if embedded
                                                   else (text, None))


@pytest.mark.parametrize(("fmt", "text", "without"), [
    ("fasta", ">a\r\nACGT\r\n>b\r\nACGT\r\n>c\r\nACGT\r\n((a,b),\r\nc);\r\n",
     ">a\r\nACGT\r\n>b\r\nACGT\r\n>c\r\nACGT\r\n"),
    ("phylip", "3 4\na  ACGT\nb  ACGT\nc  ACGT\n\n1\n(a,b,c);\n", "3 4\na  ACGT\nb  ACGT\nc  ACGT\n\n"),
    ("nexus", "#NEXUS\nbegin data;\nmatrix\na ACGT\n;\nend;\nBEGIN TREES;\n tree t = (a,b,c);\nEND;\n",
     "#NEXUS\nbegin data;\nmatrix\na ACGT\n;\nend;\n\n"),
])
def test_a_jobs_copy_loses_the_whole_embedded_tree_and_nothing_else(tmp_path, fmt, text, without):
    """What the profile reads as the embedded tree is exactly what the job's copy drops."""
    copy = tmp_path / "alignment.txt"
    copy.write_bytes(text.encode())
    assert embedded_tree.drop_embedded_tree(copy, fmt) is True
    assert copy.read_bytes() == without.encode()
    assert embedded_tree.drop_embedded_tree(copy, fmt) is False and copy.read_bytes() == without.encode()
    profile = build_profile(copy, fmt)
    assert profile.tree is None and profile.sequences == (1 if fmt == "nexus" else 3)


def test_a_tree_dataset_wins_over_a_tree_spread_over_lines_in_a_fasta(client, fake):
    rows = (FIXTURES / "adh.fasta").read_text()
    alignment = upload_id(client, rows + "(MEL,MA,\n(ERE,((SIL,DIF),AFF)));\n")
    tree = upload_id(client, "(MEL{Test},MA,(ERE,((SIL,DIF),AFF)));\n")
    job_id = start(client, "fel", {"alignment": alignment, "tree": tree}).json()["job_id"]
    assert (fake.workdir(job_id) / "input" / "alignment.txt").read_text() == rows
