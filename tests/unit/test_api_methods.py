"""GET /methods and the generic start / result endpoints, with a FakeScheduler (no HyPhy runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from service.methods.spec import SPEC_PATH
from service.methods import METHODS
from tests.conftest import ADH_NEXUS, P51_PROTEIN, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import LABELLED_TREE, PLAIN_TREE, error_fields, start, start_ok
from tests.unit.test_hyphy_capabilities import pin_hyphy

SPEC = yaml.safe_load(SPEC_PATH.read_text())
GO_README_FEL = {"ci": False, "srv": True, "resample": 0, "multiple_hits": "None", "site_multihit": "Estimate",
                 "genetic_code": {"value": "Universal", "display_name": "Universal code"}, "branches": []}
V120_FEL = {"ci": "No", "srv": "Yes", "genetic_code": "Universal", "branches": []}
FASTA_NO_TREE = ">MEL\nATGTTTACTTTG\n>MA\nATGTTTACCTTG\n>ERE\nATGTTTACTTTA\n>SIL\nATGTTCACTTTG\n"


# -- GET /methods -------------------------------------------------------------------------------
def test_methods_list_names_every_runnable_method_and_only_those(client):
    response = client.get("/api/v1/methods")
    assert response.status_code == 200
    listed = {m["id"]: m for m in response.json()["methods"]}
    assert set(listed) == {m.id for m in METHODS.values() if m.available}
    assert "nrm" not in listed and "slatkin" not in listed
    assert listed["multihit"]["name"] == "MULTI-HIT"
    assert listed["prime"]["status"] == "beta"


def test_every_listed_endpoint_exists_in_the_spec(client):
    for method in client.get("/api/v1/methods").json()["methods"]:
        start_path = method["start_endpoint"].removeprefix("/api/v1")
        result_path = method["result_endpoint"].removeprefix("/api/v1")
        assert start_path == f"/methods/{method['id']}-start"
        assert "post" in SPEC["paths"][start_path], start_path
        assert {"get", "post"} <= set(SPEC["paths"][result_path]), result_path


def test_methods_list_parameters_show_spec_defaults(client):
    methods = {m["id"]: m for m in client.get("/api/v1/methods").json()["methods"]}
    fel = {p["name"]: p for p in methods["fel"]["parameters"]}
    assert fel["alignment"]["required"] is True
    assert fel["ci"]["default"] == "No"
    assert fel["srv"]["default"] == "Yes"
    assert fel["branches"]["default"] == "[]"
    gard = {p["name"]: p for p in methods["gard"]["parameters"]}
    assert "tree" not in gard
    assert gard["rate_classes"] == {"name": "rate_classes", "description": gard["rate_classes"]["description"],
                                    "required": False, "type": "integer", "default": "2", "available": True}
    contrast = {p["name"]: p for p in methods["contrast-fel"]["parameters"]}
    assert contrast["branch_sets"]["required"] is True and "default" not in contrast["branch_sets"]


# -- start ----------------------------------------------------------------------------------------
def test_start_returns_a_queued_job_and_submits_hyphy(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    assert job["status"] == "queued"
    assert job["method"] == "fel"
    assert job["alignment_id"] == adh_id
    assert "tree_id" not in job
    spec = fake.submitted[job["job_id"]]
    workdir = Path(spec.workdir)
    alignment = workdir / "input" / "alignment.txt"
    assert spec.argv[0].startswith("/usr/lib/hyphy/bin/hyphy")
    assert spec.argv[1:] == ["CPU=1", "fel", "--alignment", str(alignment), "--ci", "No", "--srv", "Yes",
                             "--resample", "0", "--code", "Universal", "--branches", "All", "--pvalue", "0.1",
                             "--output", str(workdir / "result.json")]
    assert alignment.read_bytes() == ADH_NEXUS.read_bytes()
    assert "HYPHY_PATH" not in spec.env


def test_identical_start_twice_gives_the_same_job(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})
    second = start_ok(client, "fel", {"alignment": adh_id})
    assert second["job_id"] == first["job_id"]
    assert len(fake.submitted) == 1


def test_both_dialects_make_the_same_job(client, fake, adh_id):
    v100 = start_ok(client, "fel", {"alignment": adh_id, **GO_README_FEL})
    v120 = start_ok(client, "fel", {"alignment": adh_id, **V120_FEL})
    assert v120["job_id"] == v100["job_id"]
    assert len(fake.submitted) == 1


def test_different_options_make_different_jobs(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})
    second = start_ok(client, "fel", {"alignment": adh_id, "ci": "Yes"})
    third = start_ok(client, "slac", {"alignment": adh_id})
    assert len({first["job_id"], second["job_id"], third["job_id"]}) == 3


def test_a_reuploaded_dataset_finds_its_earlier_completed_job(client, fake, adh_id):
    """Dataset ids and request keys derive from owner + content: delete, upload again, same job."""
    job = start_ok(client, "fel", {"alignment": adh_id})
    fake.finish(job["job_id"], result=GOOD_RESULT)
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 204
    again = upload_id(client, ADH_NEXUS, name="adh again")
    assert again == adh_id
    reused = start_ok(client, "fel", {"alignment": again})
    assert reused["job_id"] == job["job_id"] and reused["status"] == "completed"
    assert len(fake.submitted) == 1


def test_a_failed_job_is_not_reused(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})
    fake.finish(first["job_id"], exit_code=1, stdout="Error: the alignment is not codon data\n")
    failed = client.get(f"/api/v1/jobs/{first['job_id']}").json()
    assert failed["status"] == "error"
    assert "not codon data" in failed["error_message"]

    second = start_ok(client, "fel", {"alignment": adh_id})
    assert second["job_id"] != first["job_id"]
    assert second["status"] == "queued"
    assert len(fake.submitted) == 2
    # The failed job stays listed with its reason; POST -result now finds the new one.
    assert client.get(f"/api/v1/jobs/{first['job_id']}").json()["status"] == "error"
    found = client.post("/api/v1/methods/fel-result", json={"alignment": adh_id}).json()
    assert found["job_id"] == second["job_id"]


def test_a_completed_job_is_reused(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})
    fake.finish(first["job_id"], result=GOOD_RESULT)
    again = start_ok(client, "fel", {"alignment": adh_id})
    assert again["job_id"] == first["job_id"]
    assert again["status"] == "completed"
    assert len(fake.submitted) == 1


def test_running_job_reports_progress(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    fake.run(job["job_id"], heading="Fitting the MG94xREV model")
    status = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert status["status"] == "running"
    assert status["progress"] == "Fitting the MG94xREV model"
    assert "started" in status and "finished" not in status


def test_a_job_finished_before_it_was_seen_running_gets_its_start_time_from_the_scheduler(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    fake.finish(job["job_id"], result=GOOD_RESULT, started="2026-01-02T03:04:05.000Z")
    status = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert status["status"] == "completed"
    assert status["started"] == "2026-01-02T03:04:05.000Z"
    assert status["finished"] >= status["started"]


def test_a_lost_job_becomes_an_error_with_the_reason(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    fake.lose(job["job_id"], "node failure")
    status = client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert status["status"] == "error"
    assert status["error_message"] == "node failure"


# -- results ---------------------------------------------------------------------------------------
def test_post_result_with_the_start_body_finds_the_job(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id, **GO_README_FEL})
    pending = client.post("/api/v1/methods/fel-result", json={"alignment": adh_id, **V120_FEL})
    assert pending.status_code == 200
    assert pending.json()["job_id"] == job["job_id"]
    assert pending.json()["status"] == "queued"
    assert "result" not in pending.json()

    fake.finish(job["job_id"], result=GOOD_RESULT)
    done = client.post("/api/v1/methods/fel-result", json={"alignment": adh_id, **GO_README_FEL})
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    assert done.json()["result"] == GOOD_RESULT


def test_post_result_for_a_body_never_started_is_404(client, fake, adh_id):
    start_ok(client, "fel", {"alignment": adh_id})
    response = client.post("/api/v1/methods/fel-result", json={"alignment": adh_id, "ci": "Yes"})
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_get_result_by_job_id(client, fake, adh_id):
    job = start_ok(client, "slac", {"alignment": adh_id})
    fake.finish(job["job_id"], result=GOOD_RESULT)
    response = client.get("/api/v1/methods/slac-result", params={"job_id": job["job_id"]})
    assert response.status_code == 200
    assert response.json()["result"] == GOOD_RESULT
    assert response.json()["job_id"] == job["job_id"]


def test_get_result_of_another_methods_job_is_404(client, fake, adh_id):
    job = start_ok(client, "slac", {"alignment": adh_id})
    response = client.get("/api/v1/methods/fel-result", params={"job_id": job["job_id"]})
    assert response.status_code == 404
    assert response.json()["job_id"] == job["job_id"]


def test_get_result_of_an_unknown_job_is_404(client, fake):
    response = client.get("/api/v1/methods/fel-result", params={"job_id": "0" * 32})
    assert response.status_code == 404
    assert set(response.json()) >= {"error", "status"}


def test_failed_job_result_carries_the_reason_not_a_result(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    fake.finish(job["job_id"], exit_code=0, result="")  # HyPhy created the file but wrote nothing
    response = client.get("/api/v1/methods/fel-result", params={"job_id": job["job_id"]})
    assert response.json()["status"] == "error"
    assert "empty result" in response.json()["error_message"]
    assert "result" not in response.json()


# -- request validation ----------------------------------------------------------------------------
def test_malformed_json_is_422_naming_the_body(client, fake):
    response = client.post("/api/v1/methods/fel-start", content=b'{"alignment": ',
                           headers={"content-type": "application/json"})
    assert error_fields(response) == ["body"]


@pytest.mark.parametrize("body,field", [
    ({"ci": "Maybe"}, "ci"),                           # wrong enum
    ({"ci": 1}, "ci"),                                 # wrong type
    ({"resample": "ten"}, "resample"),                 # wrong type
    ({"genetic_code": "Martian"}, "genetic_code"),     # wrong enum
    ({"multiple_hits": "Triple"}, "multiple_hits"),    # wrong enum
    ({"srv": None}, "srv"),                            # null is not a value
    ({"resample": 5000}, "resample"),                  # out of range
])
def test_wrong_values_are_422_naming_the_field(client, fake, adh_id, body, field):
    assert error_fields(start(client, "fel", {"alignment": adh_id, **body})) == [field]
    assert fake.submitted == {}


def test_unknown_fields_are_422(client, fake, adh_id):
    assert error_fields(start(client, "fel", {"alignment": adh_id, "turbo": "Yes"})) == ["turbo"]


@pytest.mark.parametrize("method_id,field,value", [
    ("fel", "multiple_hits", "Double"),
    ("fel", "site_multihit", "Global"),
    ("meme", "rates", 3),
    ("absrel", "blb", 0.5),
    ("busted", "error_sink", "Yes"),
])
def test_options_hyphy_lacks_are_422_at_the_api(app, client, fake, adh_id, method_id, field, value):
    pin_hyphy(app, "2.5.46-bookworm")
    response = start(client, method_id, {"alignment": adh_id, field: value})
    assert error_fields(response) == [field]
    assert "HyPhy 2.5.46" in response.json()["errors"][0]["message"]


def test_two_branches_are_422(client, fake, adh_id):
    assert error_fields(start(client, "fel", {"alignment": adh_id, "branches": ["MEL", "MA"]})) == ["branches"]


def test_missing_dataset_id_is_422_naming_alignment(client, fake):
    assert error_fields(start(client, "fel", {"ci": "No"})) == ["alignment"]


def test_empty_body_is_422(client, fake):
    response = client.post("/api/v1/methods/fel-start", content=b"", headers={"content-type": "application/json"})
    assert error_fields(response) == ["body"]


@pytest.mark.parametrize("method_id", ["nrm", "slatkin"])
def test_methods_hyphy_lacks_are_501_server_errors(app, client, fake, adh_id, method_id):
    pin_hyphy(app, "2.5.46-bookworm")
    for action in ("start", "result"):
        response = client.post(f"/api/v1/methods/{method_id}-{action}", json={"tree": adh_id})
        assert response.status_code == 501
        body = response.json()
        assert body["code"] == "method_not_available"
        assert all(isinstance(body[k], str) and body[k] for k in ("error", "code", "details"))
        assert "2.5.46" in body["details"]
    assert fake.submitted == {}


# -- trees and labels ------------------------------------------------------------------------------
def test_a_method_needing_a_tree_refuses_an_alignment_without_one(client, fake):
    fasta = upload_id(client, FASTA_NO_TREE, name="plain.fas")
    assert error_fields(start(client, "fel", {"alignment": fasta})) == ["tree"]


def test_a_tree_dataset_wins_over_the_embedded_tree(client, fake, adh_id):
    tree = upload_id(client, PLAIN_TREE, name="tree.nwk")
    job = start_ok(client, "fel", {"alignment": adh_id, "tree": tree})
    assert job["tree_id"] == tree
    spec = fake.submitted[job["job_id"]]
    workdir = Path(spec.workdir)
    assert spec.argv[spec.argv.index("--tree") + 1] == str(workdir / "input" / "tree.nwk")
    assert (workdir / "input" / "tree.nwk").read_text() == PLAIN_TREE
    copied = (workdir / "input" / "alignment.txt").read_text()
    assert "BEGIN TREES" not in copied.upper() and "MATRIX" in copied


def test_gard_runs_without_a_tree(client, fake, adh_id):
    job = start_ok(client, "gard", {"alignment": adh_id})
    argv = fake.submitted[job["job_id"]].argv
    assert "--tree" not in argv
    assert argv[2] == "gard"


def test_relax_picks_the_only_label_of_the_tree(client, fake, adh_id):
    tree = upload_id(client, LABELLED_TREE, name="labelled.nwk")
    job = start_ok(client, "relax", {"alignment": adh_id, "tree": tree})
    argv = fake.submitted[job["job_id"]].argv
    assert argv[argv.index("--test") + 1] == "Test"
    assert argv[argv.index("--kill-zero-lengths") + 1] == "No"


def test_relax_needs_a_labelled_tree(client, fake, adh_id):
    assert error_fields(start(client, "relax", {"alignment": adh_id})) == ["tree"]


def test_labels_must_exist_in_the_tree(client, fake, adh_id):
    tree = upload_id(client, LABELLED_TREE, name="labelled.nwk")
    response = start(client, "contrast-fel", {"alignment": adh_id, "tree": tree, "branch_sets": ["Foreground"]})
    assert error_fields(response) == ["branch_sets"]
    ok = start_ok(client, "contrast-fel", {"alignment": adh_id, "tree": tree, "branch_sets": ["Test"]})
    argv = fake.submitted[ok["job_id"]].argv
    assert argv[argv.index("--branch-set") + 1] == "Test"


def test_protein_alignment_for_fade(client, fake):
    protein = upload_id(client, P51_PROTEIN, name="p51.aa")
    job = start_ok(client, "fade", {"alignment": protein})
    argv = fake.submitted[job["job_id"]].argv
    workdir = fake.submitted[job["job_id"]].workdir
    assert argv[argv.index("--cache") + 1] == f"{workdir}/fade.cache"


def test_v100_alignment_file_alias_starts_slac(client, fake, adh_id):
    job = start_ok(client, "slac", {"alignment_file": adh_id, "genetic_code": "Universal", "branches": "All"})
    assert job["alignment_id"] == adh_id
