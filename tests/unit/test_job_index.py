"""FileJobTracker's index (per-owner ordered lines, finished lines, active markers, counts):
always what the records say, rebuilt when missing or of another format, replayed after a crash,
and used by GET /jobs and /metrics instead of reading every record."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from service.trackers import jobs as tracker_module
from service.trackers.fs import SortedLines
from service.trackers.jobs import COMPLETED, ERROR, RUNNING, FileJobTracker, instant_key, parse_time
from tests.unit.test_trackers import EPOCH, assert_index_matches_records, expected, make_record


@pytest.fixture
def tracker(tmp_path) -> FileJobTracker:
    return FileJobTracker(tmp_path)


def add(tracker: FileJobTracker, owner: str = "anonymous", **fields):
    record = make_record(key=f"{len(list(tracker.all())):064x}", owner=owner)
    for name, value in fields.items():
        setattr(record, name, value)
    return tracker.create_or_get(record, reuse=lambda old: True)[0]


# -- kept in step with the records ---------------------------------------------------------------
def test_every_write_keeps_the_index_in_step(tracker):
    first = add(tracker)
    other = add(tracker, owner="u" + "1" * 40, method="meme")
    assert_index_matches_records(tracker)
    tracker.update(first.job_id, state=RUNNING)
    assert_index_matches_records(tracker)
    tracker.update(first.job_id, progress="50 %")  # nothing the index holds: index untouched
    tracker.update(first.job_id, state=ERROR, finished="2025-01-01T00:00:00.000Z")
    assert_index_matches_records(tracker)
    attempt = make_record(owner="anonymous")
    tracker.create_attempt(attempt, replaces=first.job_id)
    assert_index_matches_records(tracker)
    tracker.abandon_attempt(attempt, replaces=first.job_id)
    assert_index_matches_records(tracker)
    tracker.update(other.job_id, state=ERROR, finished="2025-02-01T00:00:00Z", cancelled="2025-02-01T00:00:00Z")
    assert tracker.counts()[("meme", "cancelled")] == 1
    tracker.update(other.job_id, created="2020-01-01T00:00:00.000Z")  # moves in the order
    tracker.modify(first.job_id, lambda record: False)  # apply said no: nothing written
    assert_index_matches_records(tracker)
    tracker.delete(first.job_id)
    tracker.delete(other.job_id)
    assert_index_matches_records(tracker)
    assert tracker.counts() and not any(tracker.counts().values())
    assert not list((tracker.root / "pending").iterdir())


def test_order_cursor_and_finish_times(tracker):
    created = ["2025-01-0%dT00:00:00.000Z" % day for day in (3, 1, 2, 2)]
    jobs = [add(tracker, created=c, state=COMPLETED, finished=f"2025-02-0{i + 1}T00:00:00+01:00")
            for i, c in enumerate(created)]
    newest_first = sorted(jobs, key=lambda j: (j.created, j.job_id), reverse=True)
    assert [e.job_id for e in tracker.owner_jobs("anonymous")] == [j.job_id for j in newest_first]
    cursor = (newest_first[1].created, newest_first[1].job_id)
    assert [e.job_id for e in tracker.owner_jobs("anonymous", cursor)] == [j.job_id for j in newest_first[2:]]
    # the finish instants compare as times, whatever their offset
    since = datetime(2025, 2, 2, 23, tzinfo=timezone.utc)  # = 2025-02-03T00:00+01:00
    assert [e.job_id for e in tracker.owner_finished_since("anonymous", since)] == [j.job_id for j in jobs[2:]]
    assert instant_key(parse_time("2025-02-03T00:00:00+01:00")) == "2025-02-02T23:00:00.000000Z"


def test_a_line_deleted_in_the_middle_is_skipped_and_revived_in_place(tmp_path):
    lines = SortedLines(tmp_path / "lines", lambda payload: tuple(payload.split()))
    for word in (b"b", b"a", b"d", b"c"):  # a and c land in the middle: rewritten
        lines.put(word)
    lines.discard((b"b",))
    assert list(lines.forward((b"",))) == [b"a", b"c", b"d"]
    size = (tmp_path / "lines").stat().st_size
    lines.put(b"b")
    assert list(lines.backward()) == [b"d", b"c", b"b", b"a"] and (tmp_path / "lines").stat().st_size == size
    lines.discard((b"d",))  # the last one is cut off
    assert (tmp_path / "lines").stat().st_size == size - SortedLines.WIDTH
    assert list(lines.backward((b"c",))) == [b"b", b"a"]


# -- rebuilt and replayed ------------------------------------------------------------------------
def test_a_missing_or_older_index_is_rebuilt_at_open(tmp_path, tracker):
    for i in range(5):
        job = add(tracker, owner=f"owner{i % 2}")
        if i % 2:
            tracker.update(job.job_id, state=COMPLETED, finished="2025-01-01T00:00:00Z")
    before = expected(tracker)
    index = tmp_path / "index"
    for damage in (lambda: (index / "VERSION").write_text("0"), lambda: __import__("shutil").rmtree(index)):
        damage()
        reopened = FileJobTracker(tmp_path)
        assert (index / "VERSION").read_text() == tracker_module.INDEX_VERSION
        assert expected(reopened) == before
        assert_index_matches_records(reopened)


def test_a_write_killed_between_record_and_index_is_replayed_at_open(tmp_path, tracker, monkeypatch):
    done = add(tracker)
    killed = add(tracker)

    def die(*_args):
        raise SystemExit("killed")

    monkeypatch.setattr(FileJobTracker, "_sync_index", die)
    with pytest.raises(SystemExit):
        tracker.update(done.job_id, state=COMPLETED, finished="2025-01-01T00:00:00Z")
    with pytest.raises(SystemExit):
        tracker.delete(killed.job_id)
    with pytest.raises(SystemExit):
        add(tracker)
    monkeypatch.undo()
    assert len(list((tmp_path / "pending").iterdir())) == 3
    assert_index_matches_records(FileJobTracker(tmp_path))
    assert not list((tmp_path / "pending").iterdir())


# -- used instead of reading every record ----------------------------------------------------------
def test_a_page_and_a_scrape_read_only_what_they_show(client, fake, services, adh_id, monkeypatch):
    """Fails on the old code: GET /jobs read every record of the owner, /metrics every record
    (a scrape now reads only the jobs not yet final, to refresh them)."""
    from tests.unit.helpers import start_ok

    tracker = services.jobs.tracker
    started = [start_ok(client, "fel", {"alignment": adh_id, "resample": n})["job_id"] for n in range(1, 6)]
    for job_id in started[:4]:
        tracker.update(job_id, state=COMPLETED, finished="2025-01-01T00:00:00.000Z")
    for i in range(40):  # more of the owner's jobs, never touched by the requests below
        add(tracker, state=COMPLETED, created=f"2000-01-01T00:00:{i:02d}.000Z", finished="2000-01-02T00:00:00Z")
    reads: list[str] = []
    real_get = tracker.get
    monkeypatch.setattr(tracker, "get", lambda job_id: reads.append(job_id) or real_get(job_id))

    page = client.get("/api/v1/jobs", params={"limit": 2}).json()
    assert len(page["jobs"]) == 2 and len(reads) <= 3
    reads.clear()
    client.get("/api/v1/jobs", params={"limit": 2, "page_token": page["next_page_token"]})
    assert len(reads) <= 3
    reads.clear()
    since = client.get("/api/v1/jobs", params={"limit": 2, "since": "2024-12-31T00:00:00Z"}).json()
    assert len(since["jobs"]) == 2 and len(reads) <= 4  # the one active job + a page + one more
    reads.clear()
    assert client.get("/metrics").status_code == 200 and reads == started[4:]
