"""GET /jobs `since`, `limit`, `page_token` (cursor paging) and GET /jobs/{id}'s full record."""

from __future__ import annotations

import base64
import json

import pytest

from service.api import views
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT, SchedulerUnavailable
from tests.unit.helpers import PLAIN_TREE, error_fields, start_ok

ALICE = "alice-paging-token-3e8d1c"
BOB = "bob-paging-token-9a2f47"
#: The fields GET /jobs/{id} adds to upstream's JobStatus.
DETAIL_FIELDS = {"state", "reason", "options", "datasets", "scheduler", "native_id", "resources", "attempts",
                 "previous_job_ids"}
#: Never shown: who owns the job, its dedupe key, where its files are, scheduler internals.
SECRET_FIELDS = {"owner", "request_key", "workdir", "paths", "scheduler_info", "inputs"}


def variant(n: int) -> str:
    return ADH_NEXUS.read_text().replace("#NEXUS", f"#NEXUS\n[variant {n}: same data, other bytes]", 1)


@pytest.fixture
def jobs(client, fake, services, adh_id):
    """Seven jobs of the anonymous user; three share one `created` (ties are broken by job id)."""
    v1, v2 = upload_id(client, variant(1), name="v1"), upload_id(client, variant(2), name="v2")
    tree = upload_id(client, PLAIN_TREE, name="tree")
    bodies = [("fel", {"alignment": adh_id}), ("slac", {"alignment": adh_id}),
              ("fel", {"alignment": v1}), ("slac", {"alignment": v1}),
              ("fel", {"alignment": v2}), ("slac", {"alignment": v2}),
              ("fel", {"alignment": adh_id, "tree": tree})]
    ids = [start_ok(client, method, body)["job_id"] for method, body in bodies]
    for job_id in ids[2:5]:
        services.jobs.tracker.update(job_id, created="2020-01-01T00:00:00.000Z")
    return {"ids": ids, "adh": adh_id, "v1": v1, "tree": tree}


@pytest.fixture
def asked(fake) -> list[list[str]]:
    """The job ids of every scheduler status call, one list per call."""
    calls: list[list[str]] = []
    statuses = fake.statuses

    def recording(jobs):
        calls.append([j.job_id for j in jobs])
        return statuses(jobs)

    fake.statuses = recording
    return calls


def get_jobs(client, **params) -> dict:
    response = client.get("/api/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(client, limit: int, **filters) -> list[list[str]]:
    """Every page of a listing, following next_page_token to the end."""
    pages, token = [], None
    while True:
        body = get_jobs(client, limit=limit, **filters, **({"page_token": token} if token else {}))
        pages.append([j["job_id"] for j in body["jobs"]])
        assert len(pages[-1]) <= limit
        token = body.get("next_page_token")
        if token is None:
            return pages
        assert len(pages[-1]) == limit and len(pages) <= 20


def token_for(created: str, job_id: str) -> str:
    raw = json.dumps({"created": created, "job_id": job_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- paging ------------------------------------------------------------------------------------
FILTERS = [{}, {"method": "fel"}, {"method": "slac"}, {"status": "queued"}, {"status": "completed"}, "alignment"]


@pytest.mark.parametrize("limit", [1, 2, 5])
@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_paging_walks_every_job_exactly_once_in_order(client, fake, jobs, limit, filters):
    ids = jobs["ids"]
    fake.finish(ids[1], result=GOOD_RESULT)
    fake.finish(ids[3], result=GOOD_RESULT)
    filters = {"alignment_id": jobs["adh"]} if filters == "alignment" else filters
    everything = [j["job_id"] for j in get_jobs(client, **filters)["jobs"]]
    assert everything  # each filter selects something
    pages = walk(client, limit, **filters)
    walked = [job_id for page in pages for job_id in page]
    assert walked == everything
    assert len(set(walked)) == len(walked)
    assert len(pages) == max(1, -(-len(everything) // limit))


def test_order_is_newest_first_with_ties_broken_by_job_id(client, jobs, services):
    listed = get_jobs(client)["jobs"]
    keys = [(j["created"], j["job_id"]) for j in listed]
    assert keys == sorted(keys, reverse=True)
    assert [k for k in keys if k[0].startswith("2020")] == sorted(
        (("2020-01-01T00:00:00.000Z", i) for i in jobs["ids"][2:5]), reverse=True)


def test_a_job_started_while_paging_neither_repeats_nor_shifts_a_page(client, fake, jobs):
    first = get_jobs(client, limit=3)
    before = [j["job_id"] for j in get_jobs(client)["jobs"]]
    new = start_ok(client, "fel", {"alignment": upload_id(client, variant(3), name="v3")})["job_id"]
    rest = [job_id for page in walk_from(client, 3, first["next_page_token"]) for job_id in page]
    assert [j["job_id"] for j in first["jobs"]] + rest == before
    assert new not in rest
    assert get_jobs(client, limit=1)["jobs"][0]["job_id"] == new  # on a new first page


def walk_from(client, limit: int, token: str) -> list[list[str]]:
    pages = []
    while token:
        body = get_jobs(client, limit=limit, page_token=token)
        pages.append([j["job_id"] for j in body["jobs"]])
        token = body.get("next_page_token")
    return pages


def test_a_deleted_job_does_not_break_its_token(client, jobs):
    first = get_jobs(client, limit=2)
    last = first["jobs"][-1]["job_id"]
    assert client.delete(f"/api/v1/jobs/{last}").status_code == 204
    rest = [j["job_id"] for j in get_jobs(client, page_token=first["next_page_token"])["jobs"]]
    assert rest == [j["job_id"] for j in get_jobs(client)["jobs"]][1:]


def test_page_token_without_limit_returns_the_rest(client, jobs):
    everything = [j["job_id"] for j in get_jobs(client)["jobs"]]
    first = get_jobs(client, limit=2)
    rest = get_jobs(client, page_token=first["next_page_token"])
    assert [j["job_id"] for j in rest["jobs"]] == everything[2:] and "next_page_token" not in rest


def test_last_page_has_no_token(client, jobs):
    assert "next_page_token" not in get_jobs(client, limit=7)
    assert "next_page_token" in get_jobs(client, limit=6)
    assert "next_page_token" not in get_jobs(client, limit=1000)
    assert get_jobs(client, limit=5, method="meme") == {"jobs": []}


# -- refreshing only what a page needs -----------------------------------------------------------
def test_without_a_status_filter_only_the_page_is_refreshed(client, fake, jobs, asked):
    body = get_jobs(client, limit=2)
    assert asked == [[j["job_id"] for j in body["jobs"]]]
    asked.clear()
    page = get_jobs(client, limit=2, page_token=body["next_page_token"])
    assert asked == [[j["job_id"] for j in page["jobs"]]]


def test_a_page_of_final_jobs_asks_the_scheduler_nothing(client, fake, jobs, asked):
    newest = get_jobs(client, limit=1)["jobs"][0]["job_id"]
    fake.finish(newest, result=GOOD_RESULT)
    get_jobs(client, limit=1)  # settles it
    asked.clear()
    assert get_jobs(client, limit=1)["jobs"][0]["status"] == "completed"
    assert asked == []


def test_with_a_status_filter_only_non_final_jobs_are_refreshed(client, fake, jobs, asked):
    ids = jobs["ids"]
    fake.finish(ids[0], result=GOOD_RESULT)
    fake.finish(ids[1], exit_code=2, stdout="Error: bad data")
    get_jobs(client)  # settles both
    asked.clear()
    fake.run(ids[2])
    assert [j["job_id"] for j in get_jobs(client, status="running", limit=1)["jobs"]] == [ids[2]]
    assert len(asked) == 1 and sorted(asked[0]) == sorted(ids[2:])


def test_a_status_filter_still_sees_a_state_change_beyond_the_first_page(client, fake, jobs):
    oldest = [j["job_id"] for j in get_jobs(client)["jobs"]][-1]
    fake.finish(oldest, result=GOOD_RESULT)
    assert [j["job_id"] for j in get_jobs(client, status="completed", limit=1)["jobs"]] == [oldest]


def test_the_list_serves_stored_states_when_the_scheduler_is_down(client, fake, jobs):
    fake.status_error = SchedulerUnavailable("down")
    assert len(walk(client, 3)) == 3
    assert len(get_jobs(client, status="queued", limit=3)["jobs"]) == 3


# -- since ---------------------------------------------------------------------------------------
def test_since_keeps_jobs_finished_at_or_after_it(client, fake, services, jobs):
    ids, tracker = jobs["ids"], services.jobs.tracker
    tracker.update(ids[0], state="completed", finished="2025-01-01T00:00:00.000Z")
    tracker.update(ids[1], state="error", reason="bad data", finished="2025-01-01T00:00:00.001Z")
    tracker.update(ids[2], state="completed", finished="2024-12-31T23:59:59.999Z")

    def since(value, **more):
        return {j["job_id"] for j in get_jobs(client, since=value, **more)["jobs"]}

    assert since("2025-01-01T00:00:00Z") == {ids[0], ids[1]}
    assert since("2025-01-01T01:00:00+01:00") == {ids[0], ids[1]}  # the same instant
    assert since("2025-01-01T00:00:00.001Z") == {ids[1]}
    assert since("2024-01-01T00:00:00Z") == {ids[0], ids[1], ids[2]}  # never the unfinished ones
    assert since("2024-01-01T00:00:00Z", status="completed") == {ids[0], ids[2]}
    assert since("2026-01-01T00:00:00Z") == set()
    pages = walk(client, 1, since="2024-01-01T00:00:00Z")
    assert [p for page in pages for p in page] == [j["job_id"] for j in
                                                   get_jobs(client, since="2024-01-01T00:00:00Z")["jobs"]]


def test_since_includes_a_job_the_scheduler_reports_finished_now(client, fake, jobs):
    job_id = jobs["ids"][4]
    fake.finish(job_id, result=GOOD_RESULT)
    listed = get_jobs(client, since="2025-01-01T00:00:00Z")["jobs"]
    assert [j["job_id"] for j in listed] == [job_id] and listed[0]["status"] == "completed"


# -- bad parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [
    "garbage!", "abc", "e30", base64.urlsafe_b64encode(b"not json").decode(),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    token_for("2025-01-01T00:00:00.000Z", "../etc"),
    token_for("yesterday", "a" * 32),
    base64.urlsafe_b64encode(json.dumps({"created": 5, "job_id": "a" * 32}).encode()).decode(),
    "x" * 600,
])
def test_a_malformed_page_token_is_422_naming_it(client, jobs, token):
    assert error_fields(client.get("/api/v1/jobs", params={"page_token": token})) == ["page_token"]


@pytest.mark.parametrize("params,field", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "ten"}, "limit"),
    ({"since": "yesterday"}, "since"), ({"since": "2025-01-01"}, "since"),
])
def test_bad_paging_parameters_are_422_naming_them(client, jobs, params, field):
    assert error_fields(client.get("/api/v1/jobs", params=params)) == [field]


def test_a_token_from_another_listing_only_positions_the_cursor(client, jobs):
    """A token names a position, not a job to show: a forged one leaks nothing."""
    everything = get_jobs(client)
    assert get_jobs(client, page_token=token_for("9999-01-01T00:00:00.000Z", "f" * 32)) == everything
    assert get_jobs(client, page_token=token_for("2000-01-01T00:00:00.000Z", "0" * 32)) == {"jobs": []}


# -- no new parameters: today's response ---------------------------------------------------------
def test_without_the_new_parameters_the_response_is_unchanged(client, fake, services, jobs):
    fake.finish(jobs["ids"][0], result=GOOD_RESULT)
    fake.run(jobs["ids"][1], heading="Fitting the MG94 model")
    body = get_jobs(client)
    assert set(body) == {"jobs"}
    tracker = services.jobs.tracker
    assert body["jobs"] == [views.job_status(tracker.get(j["job_id"])) for j in body["jobs"]]
    assert {j["job_id"] for j in body["jobs"]} == set(jobs["ids"])
    created = [j["created"] for j in body["jobs"]]
    assert created == sorted(created, reverse=True)
    for item in body["jobs"]:
        assert not (DETAIL_FIELDS | SECRET_FIELDS) & set(item)
    assert get_jobs(client, limit=1000) == body


# -- GET /jobs/{id}: the full record ----------------------------------------------------------------
def test_get_job_shows_the_full_record_and_no_secrets(client, fake, services, jobs, settings_overrides):
    job_id = jobs["ids"][6]
    fake.finish(job_id, result=GOOD_RESULT, started="2030-01-02T03:04:05.000Z")
    response = client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    record = services.jobs.tracker.get(job_id)
    assert body["job_id"] == job_id and body["status"] == body["state"] == "completed"
    assert body["method"] == "fel" and body["alignment_id"] == jobs["adh"] and body["tree_id"] == jobs["tree"]
    assert body["datasets"] == {"alignment": jobs["adh"], "tree": jobs["tree"]}
    assert body["options"] == record.options and body["options"]  # normalised, defaults filled in
    assert body["reason"] == "" and body["progress"] == ""
    assert body["created"] == record.created and body["updated"] == record.updated
    assert body["started"] == "2030-01-02T03:04:05.000Z" and body["finished"] == record.finished
    assert body["scheduler"] == "FakeScheduler" and body["native_id"] == f"fake-{job_id}"
    assert body["resources"] == {"cpus": record.resources["cpus"], "memory_mb": record.resources["memory_mb"],
                                 "time_limit_min": record.resources["time_limit_min"]}
    assert body["attempts"] == 1 and body["previous_job_ids"] == []
    assert "cluster_user" not in body
    assert not SECRET_FIELDS & set(body)
    for secret in (record.owner, record.request_key, record.workdir, settings_overrides["JOB_WORK_LOCATION"],
                   *record.inputs.values()):  # (every file of the job is inside its workdir)
        assert secret not in response.text


def test_get_job_of_a_failed_and_of_a_running_job(client, fake, jobs):
    failed, running = jobs["ids"][0], jobs["ids"][1]
    fake.finish(failed, exit_code=2, stdout="Error: bad data")
    fake.run(running, heading="Fitting the MG94 model")
    body = client.get(f"/api/v1/jobs/{failed}").json()
    assert body["state"] == "error" and body["reason"] and body["reason"] == body["error_message"]
    body = client.get(f"/api/v1/jobs/{running}").json()
    assert body["state"] == "running" and "started" in body and "finished" not in body
    assert "MG94" in body["progress"]


def test_get_job_shows_the_cluster_user_when_set(client, services, jobs):
    job_id = jobs["ids"][0]
    services.jobs.tracker.update(job_id, cluster_user="alice")
    assert client.get(f"/api/v1/jobs/{job_id}").json()["cluster_user"] == "alice"


def test_another_owners_job_stays_private(client, fake):
    dataset = upload_id(client, ADH_NEXUS, token=ALICE, name="alice-adh")
    job_id = start_ok(client, "fel", {"alignment": dataset}, token=ALICE)["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"user_token": ALICE}).status_code == 200
    assert client.get(f"/api/v1/jobs/{job_id}", headers={"user_token": BOB}).status_code == 403
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 401
    alices = get_jobs_as(client, ALICE, limit=1)
    assert [j["job_id"] for j in alices["jobs"]] == [job_id] and "next_page_token" not in alices
    assert get_jobs_as(client, BOB, limit=1) == {"jobs": []}
    assert get_jobs_as(client, None, limit=1, since="2000-01-01T00:00:00Z") == {"jobs": []}
    # a cursor placed just before Alice's job shows Bob nothing of hers
    assert get_jobs_as(client, BOB, page_token=token_for("9999-01-01T00:00:00.000Z", "f" * 32)) == {"jobs": []}


def get_jobs_as(client, token: str | None, **params) -> dict:
    response = client.get("/api/v1/jobs", params=params, headers={"user_token": token} if token else {})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_page_token_is_the_last_jobs_cursor_and_nothing_else_decodes():
    from service.errors import FieldError
    from service.jobs_listing import decode_page_token, encode_page_token
    from service.trackers.jobs import JobRecord

    last = JobRecord(job_id="ab" * 16, owner="o", method="fel", request_key="k", options={}, datasets={}, inputs={},
                     workdir="/w", scheduler="s", resources={}, created="2030-01-02T03:04:05.000Z")
    assert decode_page_token(encode_page_token(last)) == (last.created, last.job_id)
    for forged in ("", "not-base64!", base64.urlsafe_b64encode(b'{"created": "yesterday", "job_id": "a"}').decode()):
        with pytest.raises(FieldError):
            decode_page_token(forged)
