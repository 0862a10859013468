"""Dataset endpoints: upload (multipart `meta` + `file`), read, download, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ADH_NEXUS, P51_PROTEIN, upload, upload_id
from tests.unit.helpers import PLAIN_TREE, error_fields, files_under, start_ok

FASTA = ">a\nATGATG\n>b\nATGATA\n"


def blob_files(settings_overrides) -> list[Path]:
    """Stored blobs (not their .refs marker folders)."""
    blobs = Path(settings_overrides["DATASET_LOCATION"]) / "blobs"
    return [p for p in files_under(blobs) if not any(part.endswith(".refs") for part in p.parts)]


def incoming_files(settings_overrides) -> list[Path]:
    return files_under(Path(settings_overrides["DATASET_LOCATION"]) / "incoming")


# -- upload ------------------------------------------------------------------------------------------
def test_upload_returns_201_with_a_datasets_body(client):
    response = upload(client, ADH_NEXUS, name="adh.nex", meta={"name": "adh", "type": "nexus", "description": "ADH"})
    assert response.status_code == 201
    (dataset,) = response.json()["datasets"]
    assert dataset["name"] == "adh" and dataset["type"] == "nexus" and dataset["description"] == "ADH"
    assert dataset["size"] == ADH_NEXUS.stat().st_size
    assert dataset["format"] == "nexus"
    assert dataset["id"].isalnum() and len(dataset["id"]) == 32
    assert "X-Session-Token" not in response.headers  # no sessions in the default (anonymous) mode


@pytest.mark.parametrize("content,fmt", [
    (FASTA, "fasta"), (PLAIN_TREE, "newick"), ("2 6\na ATGATG\nb ATGATA\n", "phylip"), ("hello\n", "unknown"),
])
def test_upload_detects_the_format(client, content, fmt):
    assert upload(client, content).json()["datasets"][0]["format"] == fmt


def test_the_same_bytes_twice_by_one_owner_give_the_same_id(client, settings_overrides):
    first = upload_id(client, ADH_NEXUS, name="first")
    second = upload_id(client, ADH_NEXUS, name="second")
    assert first == second
    listed = client.get("/api/v1/datasets").json()["datasets"]
    assert [d["id"] for d in listed] == [first]
    assert listed[0]["name"] == "second"  # metadata follows the latest upload
    assert len(blob_files(settings_overrides)) == 1


def test_two_owners_get_two_ids_sharing_one_blob(client, settings_overrides):
    alice = upload_id(client, ADH_NEXUS, token="alice-token")
    bob = upload_id(client, ADH_NEXUS, token="bob-token")
    assert alice != bob
    (blob,) = blob_files(settings_overrides)
    assert blob.read_bytes() == ADH_NEXUS.read_bytes()

    # Deleting one owner's dataset keeps the blob for the other; the last one removes it.
    assert client.delete(f"/api/v1/datasets/{alice}", headers={"user_token": "alice-token"}).status_code == 204
    assert blob.exists()
    content = client.get(f"/api/v1/datasets/{bob}/content", headers={"user_token": "bob-token"})
    assert content.content == ADH_NEXUS.read_bytes()
    assert client.delete(f"/api/v1/datasets/{bob}", headers={"user_token": "bob-token"}).status_code == 204
    assert blob_files(settings_overrides) == []


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"], ids=["empty", "blank"])
def test_empty_file_is_422_naming_file(client, settings_overrides, content):
    assert error_fields(upload(client, content)) == ["file"]
    assert incoming_files(settings_overrides) == [] and blob_files(settings_overrides) == []


def test_binary_file_with_nul_bytes_is_422_naming_file(client, settings_overrides):
    response = upload(client, b">a\nATG\x00\x01\x02TTG\n")
    assert error_fields(response) == ["file"]
    assert "NUL" in response.json()["errors"][0]["message"]
    assert incoming_files(settings_overrides) == [] and blob_files(settings_overrides) == []


@pytest.mark.parametrize("content", [b">a\nATG\xff\xfeTTG\n", b">a\nATGTTG\n\xc3"], ids=["invalid", "truncated"])
def test_non_utf8_file_is_422_naming_file(client, settings_overrides, content):
    response = upload(client, content)
    assert error_fields(response) == ["file"]
    assert "UTF-8" in response.json()["errors"][0]["message"]
    assert incoming_files(settings_overrides) == [] and blob_files(settings_overrides) == []


def test_missing_file_is_422_naming_file(client):
    response = client.post("/api/v1/datasets", data={"meta": json.dumps({"name": "x"})},
                           files={"other": ("x", b"data")})
    assert error_fields(response) == ["file"]


@pytest.mark.parametrize("meta", ["{not json", "[1, 2]", '"text"'])
def test_bad_meta_is_422_naming_meta(client, meta):
    response = client.post("/api/v1/datasets", files={"file": ("a.fas", FASTA.encode())}, data={"meta": meta})
    assert error_fields(response) == ["meta"]


def test_bad_meta_fields_are_named(client):
    response = upload(client, FASTA, meta={"name": 5, "colour": "red"})
    assert sorted(error_fields(response)) == ["meta.colour", "meta.name"]


def test_meta_is_optional(client):
    response = client.post("/api/v1/datasets", files={"file": ("a.fas", FASTA.encode())})
    assert response.status_code == 201
    assert response.json()["datasets"][0]["name"] == ""


def test_oversize_upload_is_413_and_leaves_no_file(make_app, settings_overrides):
    client = make_app(DATASET_MAX_BYTES=1000).test_client()
    response = upload(client, ">a\n" + "A" * 2000 + "\n")
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert incoming_files(settings_overrides) == [] and blob_files(settings_overrides) == []
    assert client.get("/api/v1/datasets").json()["datasets"] == []
    # exactly at the limit is fine
    assert upload(client, ">a\n" + "A" * (1000 - 4) + "\n").status_code == 201


def test_upload_beyond_the_request_size_limit_is_413_and_leaves_no_file(make_app, settings_overrides):
    """Past DATASET_MAX_BYTES + multipart margin Werkzeug refuses the body before it is read."""
    client = make_app(DATASET_MAX_BYTES=10).test_client()
    response = upload(client, b"A" * (1024 * 1024 + 4096))
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert incoming_files(settings_overrides) == [] and blob_files(settings_overrides) == []


def test_url_uploads_are_refused_by_name(client):
    response = client.post("/api/v1/datasets", files={"url": (None, b"http://example.org/a.fas")})
    assert error_fields(response) == ["file"]
    assert "URL" in response.json()["errors"][0]["message"]


# -- read ----------------------------------------------------------------------------------------------
def test_get_dataset_with_and_without_content(client):
    ds_id = upload_id(client, P51_PROTEIN, name="p51")
    plain = client.get(f"/api/v1/datasets/{ds_id}")
    assert plain.status_code == 200
    assert plain.json()["id"] == ds_id and "content" not in plain.json()
    with_content = client.get(f"/api/v1/datasets/{ds_id}", params={"include_content": "true"})
    assert with_content.json()["content"] == P51_PROTEIN.read_text()


def test_download_content_returns_the_uploaded_bytes(client):
    ds_id = upload_id(client, ADH_NEXUS)
    response = client.get(f"/api/v1/datasets/{ds_id}/content")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.content == ADH_NEXUS.read_bytes()


@pytest.mark.parametrize("path", ["/api/v1/datasets/{id}", "/api/v1/datasets/{id}/content"])
def test_unknown_dataset_is_404(client, path):
    response = client.get(path.format(id="0123456789abcdef0123456789abcdef"))
    assert response.status_code == 404
    assert response.json()["error"] == "Dataset not found"


@pytest.mark.parametrize("path", ["/api/v1/datasets/not-a-hash!", "/api/v1/datasets/abc-def/content"])
def test_malformed_dataset_id_is_422_reported_once(client, path):
    assert error_fields(client.get(path)) == ["datasetId"]
    assert error_fields(client.delete("/api/v1/datasets/not-a-hash!")) == ["datasetId"]


def test_list_datasets(client):
    ids = {upload_id(client, FASTA), upload_id(client, PLAIN_TREE)}
    assert {d["id"] for d in client.get("/api/v1/datasets").json()["datasets"]} == ids


# -- delete --------------------------------------------------------------------------------------------
def test_delete_dataset(client, settings_overrides):
    ds_id = upload_id(client, FASTA)
    assert client.delete(f"/api/v1/datasets/{ds_id}").status_code == 204
    assert client.get(f"/api/v1/datasets/{ds_id}").status_code == 404
    assert client.delete(f"/api/v1/datasets/{ds_id}").status_code == 404
    assert client.get("/api/v1/datasets").json()["datasets"] == []
    assert blob_files(settings_overrides) == []


def test_delete_is_409_while_an_unfinished_job_uses_the_dataset(client, fake, adh_id):
    job = start_ok(client, "fel", {"alignment": adh_id})
    response = client.delete(f"/api/v1/datasets/{adh_id}")
    assert response.status_code == 409
    assert job["job_id"] in response.json()["error"]
    assert client.get(f"/api/v1/datasets/{adh_id}").status_code == 200

    fake.run(job["job_id"])
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 409

    fake.finish(job["job_id"], exit_code=1, stdout="Error: boom")
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 204


def test_a_tree_in_use_is_protected_too(client, fake, adh_id):
    tree = upload_id(client, PLAIN_TREE)
    start_ok(client, "fel", {"alignment": adh_id, "tree": tree})
    assert client.delete(f"/api/v1/datasets/{tree}").status_code == 409


def test_job_reads_inputs_from_its_own_copy(client, fake, adh_id):
    """A finished job keeps working after its dataset is deleted: it ran on a copy."""
    job = start_ok(client, "fel", {"alignment": adh_id})
    workdir = fake.workdir(job["job_id"])
    fake.finish(job["job_id"], result={"x": 1})
    assert client.delete(f"/api/v1/datasets/{adh_id}").status_code == 204
    assert (workdir / "input" / "alignment.txt").read_bytes() == ADH_NEXUS.read_bytes()
    assert client.get("/api/v1/methods/fel-result", params={"job_id": job["job_id"]}).json()["result"] == {"x": 1}
