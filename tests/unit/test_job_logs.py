"""GET /jobs/{jobId}/logs: cleaned text, tail, stderr's terminal counters, and the SSE follow."""

from __future__ import annotations

import asyncio
import json

import pytest
from connexion.middleware.abstract import ROUTING_CONTEXT

from service import jobdir, logs
from service.api.middleware.log_follow import LogFollowMiddleware
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import start_ok

ALICE = "alice-logs-token-5e6f7a"
STDOUT = "Analysis Description\n\x1b[0;32m| 1 | 2 |\x1b[0m\n### Obtaining branch lengths\n### Fitting\n"
# HyPhy's stderr on its pseudo-terminal: counters rewritten in place, cleared, then a message.
STDERR = ("\x1b[2K\rWorking on site pattern 1/170\x1b[2K\rWorking on site pattern 2/170\x1b[2K\r      \x1b[2K\r"
          "\r\nCheck errors.log for execution error details.\r\n")


@pytest.fixture
def running(client, fake, adh_id) -> str:
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.run(job_id)
    (fake.workdir(job_id) / jobdir.STDOUT).write_text(STDOUT)
    (fake.workdir(job_id) / jobdir.STDERR).write_text(STDERR)
    return job_id


def test_logs_are_plain_text_without_colour_codes(client, running):
    response = client.get(f"/api/v1/jobs/{running}/logs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert response.text == "Analysis Description\n| 1 | 2 |\n### Obtaining branch lengths\n### Fitting\n"
    assert response.headers["X-Job-Status"] == "running"


def test_tail_keeps_the_last_lines(client, running):
    assert client.get(f"/api/v1/jobs/{running}/logs", params={"tail": 2}).text == "### Obtaining branch lengths\n### Fitting\n"
    assert client.get(f"/api/v1/jobs/{running}/logs", params={"tail": 0}).text == ""
    assert client.get(f"/api/v1/jobs/{running}/logs", params={"tail": 99}).text.startswith("Analysis Description")


def test_stderr_shows_the_terminal_as_last_drawn(client, running):
    text = client.get(f"/api/v1/jobs/{running}/logs", params={"stream": "stderr"}).text
    assert text == "\nCheck errors.log for execution error details.\n"


def test_a_queued_job_has_empty_logs_and_bad_parameters_are_422(client, fake, adh_id):
    job_id = start_ok(client, "slac", {"alignment": adh_id})["job_id"]
    response = client.get(f"/api/v1/jobs/{job_id}/logs")
    assert (response.status_code, response.text, response.headers["X-Job-Status"]) == (200, "", "queued")
    for params, field in (({"stream": "errors"}, "stream"), ({"tail": -1}, "tail"), ({"follow": "maybe"}, "follow")):
        bad = client.get(f"/api/v1/jobs/{job_id}/logs", params=params)
        assert bad.status_code == 422 and field in bad.text, (params, bad.text)


def test_logs_are_the_owners_only(client, fake):
    adh_id = upload_id(client, ADH_NEXUS, token=ALICE)
    job_id = start_ok(client, "fel", {"alignment": adh_id}, token=ALICE)["job_id"]
    assert client.get(f"/api/v1/jobs/{job_id}/logs").status_code == 401
    assert client.get(f"/api/v1/jobs/{job_id}/logs", headers={"user_token": "someone-else-123456"}).status_code == 403
    assert client.get(f"/api/v1/jobs/{job_id}/logs", headers={"user_token": ALICE}).status_code == 200


def parse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs of an SSE body; `id:` and comment blocks are skipped."""
    events = []
    for block in text.split("\n\n"):
        fields = [line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")]
        names = [value for key, value in fields if key == "event"]
        if names:
            events.append((names[0], "\n".join(value for key, value in fields if key == "data")))
    return events


def test_follow_of_a_finished_job_streams_the_log_and_ends(client, fake, running):
    fake.finish(running, result=GOOD_RESULT)
    response = client.get(f"/api/v1/jobs/{running}/logs", params={"follow": "true", "tail": 1})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    assert events[0] == ("log", "### Fitting")
    assert events[-1][0] == "end" and json.loads(events[-1][1])["status"] == "completed"


def test_follow_streams_new_lines_progress_and_the_end(app, client, fake, running, monkeypatch):
    monkeypatch.setattr(logs, "FOLLOW_POLL_S", 0)
    jobs = app.app.extensions["datamonkey"].jobs
    workdir = fake.workdir(running)
    (workdir / jobdir.STDERR).write_text("\x1b[2K\rWorking on site pattern 17/170 in partition 1")
    stream = logs.follow(jobs, jobs.tracker.get(running), "stdout", 1)
    loop = asyncio.new_event_loop()
    step = lambda: loop.run_until_complete(anext(stream))  # noqa: E731
    assert step() == "event: log\ndata: ### Fitting\n\n"
    assert step().startswith("id: ")
    progress = step()
    assert progress.startswith("event: progress\n") and '"fraction": 0.1' in progress
    with open(workdir / jobdir.STDOUT, "a") as out:
        out.write("### Writing \x1b[1mresults\x1b[0m\npartial line")
    assert step() == "event: log\ndata: ### Writing results\n\n"  # the unfinished line waits
    resume = int(step().removeprefix("id: ").strip())
    fake.finish(running, result=GOOD_RESULT)
    rest = loop.run_until_complete(collect(stream))
    loop.close()
    assert parse_events(rest)[-2:] == [("log", "partial line"), ("end", json.dumps(
        {"error_message": "", "state": "completed", "status": "completed"}))]
    # a client that reconnects with Last-Event-ID gets only what came after it
    again = client.get(f"/api/v1/jobs/{running}/logs", params={"follow": "true"}, headers={"Last-Event-ID": str(resume)})
    assert [e for e in parse_events(again.text) if e[0] == "log"] == [("log", "partial line")]


async def collect(stream) -> str:
    return "".join([event async for event in stream])


def follow_scope(job_id: str, token: str | None = None, client: str = "192.0.2.1") -> dict:
    """The scope Connexion's routing hands on for GET /jobs/{job_id}/logs?follow=true."""
    return {"type": "http", "method": "GET", "path": f"/api/v1/jobs/{job_id}/logs", "query_string": b"follow=true",
            "headers": [(b"user_token", token.encode())] if token else [], "client": (client, 50000),
            "path_params": {"jobId": job_id}, "extensions": {ROUTING_CONTEXT: {"operation_id": "getJobLogs"}}}


def test_a_stream_stops_when_its_client_goes_away_and_frees_its_slot(app, running, monkeypatch):
    """The job keeps running; the stream must not: it ends within a poll of the disconnect."""
    monkeypatch.setattr(logs, "FOLLOW_POLL_S", 0.01)
    middleware = LogFollowMiddleware(None, services=app.app.extensions["datamonkey"], followers=logs.Followers(1))
    sent: list[dict] = []
    disconnect = asyncio.Event()

    async def receive():
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if len(sent) == 3:  # the response started and the first events went out: the client leaves
            disconnect.set()

    async def scenario():
        await asyncio.wait_for(middleware(follow_scope(running), receive, send), timeout=60)

    asyncio.run(scenario())
    assert sent[0]["status"] == 200 and (b"x-job-status", b"running") in sent[0]["headers"]
    assert not any(b"event: end" in m.get("body", b"") for m in sent)  # stopped, not finished
    assert middleware.followers.open == 0


@pytest.mark.parametrize("limit,status,code", [("MAX_FOLLOWERS", 503, "too_many_log_streams"),
                                               ("MAX_FOLLOWERS_PER_OWNER", 429, "too_many_log_streams_of_yours")])
def test_followers_are_bounded_in_all_and_per_owner(make_app, fake, monkeypatch, limit, status, code):
    monkeypatch.setattr(logs, limit, 0)
    client = make_app().test_client()
    job_id = start_ok(client, "fel", {"alignment": upload_id(client, ADH_NEXUS)})["job_id"]
    response = client.get(f"/api/v1/jobs/{job_id}/logs", params={"follow": "true"})
    assert response.status_code == status and response.headers["Retry-After"]
    body = response.json()
    assert body["code"] == code and body["request_id"] == response.headers["X-Request-ID"]
    assert client.get(f"/api/v1/jobs/{job_id}/logs").status_code == 200  # plain reads are unaffected


def test_follow_of_someone_elses_job_is_refused_like_any_read(client, fake):
    adh_id = upload_id(client, ADH_NEXUS, token=ALICE)
    job_id = start_ok(client, "fel", {"alignment": adh_id}, token=ALICE)["job_id"]
    anonymous = client.get(f"/api/v1/jobs/{job_id}/logs", params={"follow": "true"})
    other = client.get(f"/api/v1/jobs/{job_id}/logs", params={"follow": "true"}, headers={"user_token": "x" * 20})
    assert (anonymous.status_code, other.status_code) == (401, 403)
    assert set(anonymous.json()) >= {"code", "message", "request_id"}
    assert client.get(f"/api/v1/jobs/{'0' * 32}/logs", params={"follow": "true"}).status_code == 404


def test_follow_takes_the_user_token_as_a_bearer_token_too(client, fake):
    adh_id = upload_id(client, ADH_NEXUS, token=ALICE)
    job_id = start_ok(client, "fel", {"alignment": adh_id}, token=ALICE)["job_id"]
    fake.finish(job_id, result=GOOD_RESULT)
    response = client.get(f"/api/v1/jobs/{job_id}/logs", params={"follow": "true"},
                          headers={"Authorization": f"Bearer {ALICE}"})
    assert response.status_code == 200, response.text
    assert parse_events(response.text)[-1][0] == "end"


@pytest.mark.parametrize("value", [b"1" * 5000, b"9" * 19, b"-1", b"12abc", b"\xb2"])
def test_a_last_event_id_that_is_not_a_sane_offset_is_422_naming_it(client, fake, running, value):
    """A byte offset: ASCII digits, at most 18 (an exabyte). 5000 digits used to be a 500 (Python
    refuses int() of over 4300 digits), and so was "²" (b"\\xb2" read as latin-1: isdigit(), not int())."""
    fake.finish(running, result=GOOD_RESULT)
    response = client.get(f"/api/v1/jobs/{running}/logs", params={"follow": "true"},
                          headers={"Last-Event-ID": value})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "Last-Event-ID"


def test_one_owner_cannot_take_every_stream(app, client, fake, running, monkeypatch):
    """A share per owner; token-less callers share one owner, so theirs is per client address."""
    monkeypatch.setattr(logs, "FOLLOW_POLL_S", 0.01)
    jobs = {}
    for token in (ALICE, "bob-logs-token-8c9d0e"):
        jobs[token] = start_ok(client, "fel", {"alignment": upload_id(client, ADH_NEXUS, token=token)},
                               token=token)["job_id"]
        fake.run(jobs[token])
    middleware = LogFollowMiddleware(None, services=app.app.extensions["datamonkey"],
                                     followers=logs.Followers(limit=64, per_owner=1))
    leave = asyncio.Event()
    streams: list[asyncio.Task] = []

    async def receive():
        await leave.wait()
        return {"type": "http.disconnect"}

    async def attempt(scope) -> str:
        """Opens a stream, kept open until `leave`: "open", or the error it was refused with."""
        started = asyncio.Event()

        async def send(message):
            if message["type"] == "http.response.start":
                started.set()

        stream = asyncio.create_task(middleware(scope, receive, send))
        streams.append(stream)
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({stream, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return "open" if started.is_set() else f"{stream.exception().status} {stream.exception().code}"

    async def scenario():
        outcomes = [await attempt(scope) for scope in (
            follow_scope(jobs[ALICE], ALICE), follow_scope(jobs[ALICE], ALICE),
            follow_scope(jobs["bob-logs-token-8c9d0e"], "bob-logs-token-8c9d0e"),
            follow_scope(running, client="192.0.2.1"), follow_scope(running, client="192.0.2.1"),
            follow_scope(running, client="198.51.100.7"))]
        leave.set()
        await asyncio.gather(*streams, return_exceptions=True)
        return outcomes

    refused = "429 too_many_log_streams_of_yours"
    assert asyncio.run(scenario()) == ["open", refused, "open", "open", refused, "open"]
    assert middleware.followers.open == 0
