"""Who owns what: user_token users vs the shared anonymous user, and SESSION_MODE=auto sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import Forbidden, Unauthorized
from service.identity import ANONYMOUS, Sessions, require_owner, token_hash
from tests.conftest import ADH_NEXUS, upload, upload_id
from tests.unit.fakes import GOOD_RESULT, FakeScheduler
from tests.unit.helpers import start, start_ok

ALICE = "alice-secret-token-4f9c2a"
BOB = "bob-secret-token-77d1e0"


def auth(token: str | None) -> dict[str, str]:
    return {"user_token": token} if token else {}


def dataset_ids(client, token=None) -> set[str]:
    response = client.get("/api/v1/datasets", headers=auth(token))
    assert response.status_code == 200, response.text
    return {d["id"] for d in response.json()["datasets"]}


def job_ids(client, token=None) -> set[str]:
    response = client.get("/api/v1/jobs", headers=auth(token))
    assert response.status_code == 200, response.text
    return {j["job_id"] for j in response.json()["jobs"]}


# -- token users vs anonymous ------------------------------------------------------------------
def test_datasets_are_private_to_their_owner(client):
    alice = upload_id(client, ADH_NEXUS, token=ALICE)
    anon = upload_id(client, ">a\nATG\n>b\nATG\n")
    assert dataset_ids(client, ALICE) == {alice}
    assert dataset_ids(client) == {anon}
    assert dataset_ids(client, BOB) == set()


def test_jobs_are_private_to_their_owner(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    anon_ds = upload_id(client, ADH_NEXUS)
    alice_job = start_ok(client, "fel", {"alignment": alice_ds}, token=ALICE)["job_id"]
    anon_job = start_ok(client, "fel", {"alignment": anon_ds})["job_id"]
    assert alice_job != anon_job  # same content, same options, different owners
    assert job_ids(client, ALICE) == {alice_job}
    assert job_ids(client) == {anon_job}
    assert job_ids(client, BOB) == set()


def test_token_in_the_body_identifies_the_user_too(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    job = start_ok(client, "fel", {"alignment": alice_ds, "user_token": ALICE})
    assert job_ids(client, ALICE) == {job["job_id"]}


def test_token_as_an_upload_form_field_identifies_the_user(client):
    response = client.post("/api/v1/datasets", files={"file": ("adh.nex", ADH_NEXUS.read_bytes())},
                           data={"meta": '{"name": "adh"}', "user_token": ALICE})
    assert response.status_code == 201
    assert dataset_ids(client, ALICE) == {response.json()["datasets"][0]["id"]}
    assert dataset_ids(client) == set()


def test_the_header_token_wins_over_the_body_token(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    assert start(client, "fel", {"alignment": alice_ds, "user_token": ALICE}, token=BOB).status_code == 403


def test_another_tokens_dataset_is_403_on_delete_and_start(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    deleted = client.delete(f"/api/v1/datasets/{alice_ds}", headers=auth(BOB))
    assert deleted.status_code == 403
    assert deleted.json()["code"] == 403 and deleted.json()["message"]
    started = start(client, "fel", {"alignment": alice_ds}, token=BOB)
    assert started.status_code == 403
    assert started.json()["code"] == 403
    assert fake.submitted == {}
    assert client.get(f"/api/v1/datasets/{alice_ds}", headers=auth(ALICE)).status_code == 200


def test_anonymous_access_to_a_token_users_dataset_is_401(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    for response in (
        client.get(f"/api/v1/datasets/{alice_ds}"),
        client.get(f"/api/v1/datasets/{alice_ds}/content"),
        client.delete(f"/api/v1/datasets/{alice_ds}"),
        start(client, "fel", {"alignment": alice_ds}),
    ):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == 401 and response.json()["message"]


def test_a_token_user_cannot_use_anonymous_datasets(client, fake):
    anon_ds = upload_id(client, ADH_NEXUS)
    assert client.get(f"/api/v1/datasets/{anon_ds}", headers=auth(ALICE)).status_code == 403
    assert start(client, "fel", {"alignment": anon_ds}, token=ALICE).status_code == 403


def test_jobs_of_another_user_are_401_or_403(client, fake):
    alice_ds = upload_id(client, ADH_NEXUS, token=ALICE)
    job_id = start_ok(client, "fel", {"alignment": alice_ds}, token=ALICE)["job_id"]
    fake.finish(job_id, result=GOOD_RESULT)
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth(BOB)).status_code == 403
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=auth(BOB)).status_code == 403
    by_id = client.get("/api/v1/methods/fel-result", params={"job_id": job_id}, headers=auth(BOB))
    assert by_id.status_code == 403 and "result" not in by_id.json()
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth(ALICE)).json()["status"] == "completed"
    # POST -result with Alice's dataset: Bob may not even reference it.
    assert client.post("/api/v1/methods/fel-result", json={"alignment": alice_ds},
                       headers=auth(BOB)).status_code == 403


def test_overlong_token_is_422_naming_user_token_without_echoing_it(client, caplog):
    token = "secret-" + "x" * 600
    response = client.get("/api/v1/datasets", headers=auth(token))
    assert [e["field"] for e in response.json()["errors"]] == ["user_token"]
    assert "512" in response.json()["errors"][0]["message"]
    assert "secret-" not in response.text
    assert "secret-" not in caplog.text


def test_require_owner_rules():
    from service.identity import Identity

    alice = Identity(owner="u" + token_hash(ALICE)[:40])
    require_owner(alice, alice.owner, "dataset")
    with pytest.raises(Unauthorized) as anonymous:
        require_owner(Identity(owner=ANONYMOUS), alice.owner, "dataset")
    assert anonymous.value.status == 401 and not isinstance(anonymous.value, Forbidden)
    with pytest.raises(Forbidden):
        require_owner(Identity(owner="u" + token_hash(BOB)[:40]), alice.owner, "dataset")


# -- SESSION_MODE=auto ------------------------------------------------------------------------------
@pytest.fixture
def auto_app(make_app):
    return make_app(SESSION_MODE="auto", scheduler=FakeScheduler())


def test_auto_mode_token_less_upload_opens_a_session(auto_app):
    client = auto_app.test_client()
    response = upload(client, ADH_NEXUS)
    assert response.status_code == 201
    token = response.headers["X-Session-Token"]
    assert len(token) >= 32
    ds_id = response.json()["datasets"][0]["id"]
    assert dataset_ids(client, token) == {ds_id}
    assert start(client, "fel", {"alignment": ds_id}, token=token).status_code == 200
    # a second token-less upload opens another, separate session
    other = upload(client, ">a\nATG\n>b\nATG\n")
    assert other.headers["X-Session-Token"] != token
    assert dataset_ids(client, other.headers["X-Session-Token"]) == {other.json()["datasets"][0]["id"]}


def test_auto_mode_upload_with_a_session_token_returns_no_new_token(auto_app):
    client = auto_app.test_client()
    token = upload(client, ADH_NEXUS).headers["X-Session-Token"]
    again = upload(client, ">a\nATG\n>b\nATG\n", token=token)
    assert again.status_code == 201
    assert "X-Session-Token" not in again.headers
    assert len(dataset_ids(client, token)) == 2


def test_auto_mode_refuses_unknown_tokens(auto_app):
    client = auto_app.test_client()
    assert client.get("/api/v1/datasets", headers=auth("made-up-token")).status_code == 401
    assert upload(client, ADH_NEXUS, token="made-up-token").status_code == 401


@pytest.mark.parametrize("call", [
    lambda c: c.get("/api/v1/datasets"),
    lambda c: c.get("/api/v1/jobs"),
    lambda c: c.post("/api/v1/methods/fel-start", json={"alignment": "a" * 32}),
], ids=["datasets", "jobs", "start"])
def test_auto_mode_token_less_calls_other_than_upload_are_401(auto_app, call):
    response = call(auto_app.test_client())
    assert response.status_code == 401
    assert response.json()["code"] == 401


def test_auto_mode_health_and_methods_need_no_token(auto_app):
    client = auto_app.test_client()
    assert client.get("/api/v1/health").status_code == 200
    assert client.get("/api/v1/methods").status_code == 200


def test_sessions_store_only_hashes(tmp_path):
    sessions = Sessions(tmp_path / "s", "auto")
    identity = sessions.resolve(None, may_open_session=True)
    assert identity.new_token
    assert not [p for p in (tmp_path / "s").rglob("*") if p.is_file()], "proposed, not yet opened"
    sessions.open_session(identity)
    assert sessions.resolve(identity.new_token).owner == identity.owner
    stored = [p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert stored == [token_hash(identity.new_token).encode()]


def test_failed_token_less_upload_opens_no_session(make_app, tmp_path):
    client = make_app(SESSION_MODE="auto").test_client()
    response = client.post("/api/v1/datasets", files={"file": ("empty", b"")}, data={"meta": "{}"})
    assert response.status_code == 422
    assert "X-Session-Token" not in response.headers
    assert not [p for p in (tmp_path / "sessions").rglob("*") if p.is_file()]


# -- tokens never reach the disk -------------------------------------------------------------------
def grep_tree(root: Path, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if needle in path.name or path.is_file() and needle.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


def test_tokens_are_never_stored_in_plain_text(make_app, tmp_path):
    fake = FakeScheduler()
    app = make_app(SESSION_MODE="auto", scheduler=fake)
    client = app.test_client()
    response = upload(client, ADH_NEXUS, meta={"name": "n", "type": "t", "description": "d"})
    token = response.headers["X-Session-Token"]
    ds_id = response.json()["datasets"][0]["id"]
    job = start_ok(client, "fel", {"alignment": ds_id, "user_token": token}, token=token)
    fake.finish(job["job_id"], result=GOOD_RESULT)
    assert client.get(f"/api/v1/jobs/{job['job_id']}", headers=auth(token)).json()["status"] == "completed"
    assert client.post("/api/v1/methods/fel-result", json={"alignment": ds_id}, headers=auth(token)).status_code == 200

    anonymous_mode = make_app(scheduler=FakeScheduler())  # same data directories, token users allowed without sessions
    other = anonymous_mode.test_client()
    other_ds = upload_id(other, ADH_NEXUS, token=ALICE)
    start_ok(other, "fel", {"alignment": other_ds, "user_token": ALICE}, token=ALICE)

    assert (tmp_path / "datasets").exists() and (tmp_path / "job-tracker").exists()
    assert grep_tree(tmp_path, token) == []
    assert grep_tree(tmp_path, ALICE) == []
