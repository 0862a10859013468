"""File trackers under concurrency: threads, processes, and processes killed mid-write."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from service.trackers.datasets import FileDatasetTracker, dataset_id
from service.trackers.jobs import (
    COMPLETED,
    ERROR,
    QUEUED,
    RUNNING,
    FileJobTracker,
    IndexEntry,
    JobRecord,
    new_job_id,
)

FORK = multiprocessing.get_context("fork")
DEADLINE_S = 30.0  # generous upper bound for polls; never a performance threshold
REQUEST_KEY = "ab" + "0" * 62
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def make_record(job_id: str | None = None, *, key: str = REQUEST_KEY, owner: str = "anonymous",
                state: str = QUEUED) -> JobRecord:
    job_id = job_id or new_job_id()
    return JobRecord(job_id=job_id, owner=owner, method="fel", request_key=key, options={"ci": "No"},
                     datasets={"alignment": "d1"}, inputs={"alignment": "s1"}, workdir=f"/nonexistent/{job_id}",
                     scheduler="fake", resources={"cpus": 1}, state=state)


def expected(tracker: FileJobTracker):
    """What the index must hold, derived from the records alone."""
    records = list(tracker.all())
    owners = {r.owner for r in records}
    by_created = {o: sorted((IndexEntry.of(r) for r in records if r.owner == o), key=lambda e: e.page_key,
                            reverse=True) for o in owners}
    finished = {o: sorted((e for e in by_created[o] if e.finished), key=lambda e: (e.finished, *e.page_key))
                for o in owners}
    active = {o: sorted(r.job_id for r in records if r.owner == o and not r.final) for o in owners}
    counts = Counter((r.method, r.lifecycle_state) for r in records)
    return by_created, finished, active, counts


def assert_index_matches_records(tracker: FileJobTracker) -> None:
    by_created, finished, active, counts = expected(tracker)
    for owner in set(by_created) | {p.name for p in (tracker.root / "index" / "owners").iterdir()}:
        assert list(tracker.owner_jobs(owner)) == by_created.get(owner, [])
        assert list(tracker.owner_finished_since(owner, EPOCH)) == finished.get(owner, [])
        assert sorted(j.job_id for j in tracker.owner_active(owner)) == active.get(owner, [])
    assert {key: n for key, n in tracker.counts().items() if n} == dict(counts)


def wait_for(predicate, what: str):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def run_with_deadline(function, *args, **kwargs):
    """Call `function` in a thread; fail (rather than hang) if it never returns, e.g. a stale lock."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(function(*args, **kwargs)), daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), f"{function.__name__} blocked (stale lock?)"
    return result[0]


@contextmanager
def running(*targets):
    """Start one forked process per (function, args); SIGKILL any still alive on the way out."""
    processes = [FORK.Process(target=function, args=args, daemon=True) for function, args in targets]
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
            process.join(DEADLINE_S)


def join_all(processes) -> None:
    for process in processes:
        process.join(DEADLINE_S)
        assert process.exitcode == 0


# -- basic behaviour -------------------------------------------------------------------------------------
def test_create_get_find_update_delete(tmp_path):
    tracker = FileJobTracker(tmp_path)
    record, created = tracker.create_or_get(make_record(), reuse=lambda old: True)
    assert created
    assert tracker.get(record.job_id) == record
    assert tracker.find_by_key(REQUEST_KEY).job_id == record.job_id
    assert [j.job_id for j in tracker.active()] == [record.job_id]

    updated = tracker.update(record.job_id, state=COMPLETED, progress="done")
    assert updated.state == COMPLETED and tracker.get(record.job_id).progress == "done"
    assert tracker.active() == []  # final jobs leave the active set
    assert [j.job_id for j in tracker.list_owner("anonymous")] == [record.job_id]

    tracker.delete(record.job_id)
    assert tracker.get(record.job_id) is None
    assert tracker.find_by_key(REQUEST_KEY) is None
    assert tracker.list_owner("anonymous") == []
    with pytest.raises(KeyError):
        tracker.update(record.job_id, state=ERROR)


def test_reuse_decides_whether_a_key_maps_to_a_new_job(tmp_path):
    tracker = FileJobTracker(tmp_path)
    first, _ = tracker.create_or_get(make_record(), reuse=lambda old: old.state != ERROR)
    same, created = tracker.create_or_get(make_record(), reuse=lambda old: old.state != ERROR)
    assert not created and same.job_id == first.job_id
    tracker.update(first.job_id, state=ERROR)
    fresh, created = tracker.create_or_get(make_record(), reuse=lambda old: old.state != ERROR)
    assert created and fresh.job_id != first.job_id
    assert tracker.find_by_key(REQUEST_KEY).job_id == fresh.job_id
    # deleting the old (failed) job must not unmap the key from the new one
    tracker.delete(first.job_id)
    assert tracker.find_by_key(REQUEST_KEY).job_id == fresh.job_id


def test_a_record_stored_with_the_old_paths_field_still_loads_and_updates(tmp_path):
    """Records written before service/jobdir.py named a job's files held their absolute `paths`."""
    tracker = FileJobTracker(tmp_path)
    record, _ = tracker.create_or_get(make_record(), reuse=lambda old: True)
    stored = tracker._record_path(record.job_id)
    old = {**json.loads(stored.read_text()),
           "paths": {"stdout": f"{record.workdir}/stdout.log", "result": f"{record.workdir}/result.json"}}
    stored.write_text(json.dumps(old))
    assert tracker.get(record.job_id) == record
    assert tracker.update(record.job_id, state=COMPLETED).state == COMPLETED
    assert "paths" not in json.loads(stored.read_text())


@pytest.mark.parametrize("bad_id", ["../etc", "", "a/b", "a.json"])
def test_non_alphanumeric_ids_are_never_looked_up(tmp_path, bad_id):
    assert FileJobTracker(tmp_path).get(bad_id) is None
    assert FileDatasetTracker(tmp_path).get(bad_id) is None


# -- one job per request key, whoever races ---------------------------------------------------------
def test_threads_racing_on_one_request_key_create_one_job(tmp_path):
    tracker = FileJobTracker(tmp_path)
    barrier = threading.Barrier(16)
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def worker():
        record = make_record()
        barrier.wait()
        job, created = tracker.create_or_get(record, reuse=lambda old: True)
        with lock:
            results.append((job.job_id, created))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert sum(created for _, created in results) == 1
    assert len({job_id for job_id, _ in results}) == 1
    assert [j.job_id for j in tracker.list_owner("anonymous")] == [results[0][0]]


def _create_in_process(root: str, barrier, queue) -> None:
    tracker = FileJobTracker(Path(root))
    record = make_record()
    barrier.wait()
    job, created = tracker.create_or_get(record, reuse=lambda old: True)
    queue.put((job.job_id, created))


def test_processes_racing_on_one_request_key_create_one_job(tmp_path):
    workers = 8
    barrier, queue = FORK.Barrier(workers), FORK.Queue()
    with running(*[(_create_in_process, (str(tmp_path), barrier, queue))] * workers) as processes:
        results = [queue.get(timeout=DEADLINE_S) for _ in range(workers)]
        join_all(processes)
    assert sum(created for _, created in results) == 1
    assert len({job_id for job_id, _ in results}) == 1
    tracker = FileJobTracker(tmp_path)
    assert [j.job_id for j in tracker.list_owner("anonymous")] == [results[0][0]]
    assert len(list((tmp_path / "records").rglob("*.json"))) == 1


# -- concurrent updates lose nothing ----------------------------------------------------------------------
def _update_field(root: str, job_id: str, field: str, prefix: str, count: int, barrier) -> None:
    tracker = FileJobTracker(Path(root))
    barrier.wait()
    for i in range(count):
        tracker.update(job_id, **{field: f"{prefix}{i}"})


def test_processes_updating_different_fields_of_one_record_lose_no_update(tmp_path):
    """Each update is a locked read-modify-write: neither writer may overwrite the other's field."""
    tracker = FileJobTracker(tmp_path)
    job, _ = tracker.create_or_get(make_record(), reuse=lambda old: True)
    count = 60
    barrier = FORK.Barrier(3)
    with running(
        (_update_field, (str(tmp_path), job.job_id, "progress", "p", count, barrier)),
        (_update_field, (str(tmp_path), job.job_id, "reason", "r", count, barrier)),
        (_update_field, (str(tmp_path), job.job_id, "native_id", "n", count, barrier)),
    ) as processes:
        join_all(processes)
    final = tracker.get(job.job_id)
    assert (final.progress, final.reason, final.native_id) == (f"p{count - 1}", f"r{count - 1}", f"n{count - 1}")


def test_threads_updating_one_record_lose_no_update(tmp_path):
    tracker = FileJobTracker(tmp_path)
    job, _ = tracker.create_or_get(make_record(), reuse=lambda old: True)
    fields = ["progress", "reason", "native_id", "started"]
    barrier = threading.Barrier(len(fields))

    def worker(field):
        barrier.wait()
        for i in range(40):
            tracker.update(job.job_id, **{field: f"{field}-{i}"})

    threads = [threading.Thread(target=worker, args=(f,)) for f in fields]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = tracker.get(job.job_id)
    assert [getattr(final, f) for f in fields] == [f"{f}-39" for f in fields]


def _create_many(root: str, owner: str, count: int, barrier, queue) -> None:
    tracker = FileJobTracker(Path(root))
    barrier.wait()
    made = []
    for _ in range(count):
        key = "ab" + uuid.uuid4().hex * 2  # same lock shard for every key: maximal contention
        job, created = tracker.create_or_get(make_record(key=key[:64], owner=owner), reuse=lambda old: True)
        assert created
        tracker.update(job.job_id, state=RUNNING)
        made.append(job.job_id)
    queue.put(made)


def test_processes_creating_jobs_concurrently_lose_no_record(tmp_path):
    workers, each = 4, 25
    barrier, queue = FORK.Barrier(workers), FORK.Queue()
    with running(*[(_create_many, (str(tmp_path), "shared", each, barrier, queue))] * workers) as processes:
        made = [job_id for _ in range(workers) for job_id in queue.get(timeout=DEADLINE_S)]
        join_all(processes)
    tracker = FileJobTracker(tmp_path)
    listed = tracker.list_owner("shared")
    assert sorted(j.job_id for j in listed) == sorted(made)
    assert len(made) == workers * each
    assert all(j.state == RUNNING for j in listed)
    assert sorted(j.job_id for j in tracker.active()) == sorted(made)
    assert_index_matches_records(tracker)


# -- SIGKILL in the middle of writing ----------------------------------------------------------------------
def _hammer(root: str, job_ids: list[str]) -> None:
    """Update records (and create new ones) as fast as possible until killed."""
    tracker = FileJobTracker(Path(root))
    payload = "x" * 50_000  # large records: a kill is likely to land mid-write
    i = 0
    while True:
        for job_id in job_ids:
            tracker.update(job_id, progress=f"step {i}", scheduler_info={"i": i, "payload": payload})
        tracker.create_or_get(make_record(key=hashlib.sha256(str(i).encode()).hexdigest(), owner="killed"),
                              reuse=lambda old: True)
        i += 1


def assert_tracker_consistent(root: Path) -> None:
    """Every record file is complete JSON; every marker and key resolves to a readable record."""
    tracker = FileJobTracker(root)
    records = list((root / "records").rglob("*.json"))
    for path in records:
        data = json.loads(path.read_bytes())  # raises on a torn or partial file
        assert JobRecord.from_dict(data).job_id == path.stem
    for path in (root / "keys").rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            job_id = path.read_text()
            assert len(job_id) == 32 and job_id.isalnum(), f"partial key file {path}: {job_id!r}"
    for folder in ("owners/anonymous", "owners/killed", "active"):
        for marker in (root / folder).glob("*") if (root / folder).exists() else []:
            if (root / "records" / marker.name[:2] / f"{marker.name}.json").exists():
                assert tracker.get(marker.name) is not None


def test_processes_killed_mid_update_leave_every_record_parseable(tmp_path):
    tracker = FileJobTracker(tmp_path)
    job_ids = [tracker.create_or_get(make_record(key=f"{k:064x}"), reuse=lambda old: True)[0].job_id
               for k in range(3)]
    for round_no in range(6):
        before = tracker.get(job_ids[0]).progress
        with running((_hammer, (str(tmp_path), job_ids))) as (process,):
            # kill only once the child has got through at least one full update
            wait_for(lambda before=before: tracker.get(job_ids[0]).progress != before, f"round {round_no} to make progress")
            os.kill(process.pid, signal.SIGKILL)
            process.join(DEADLINE_S)
        assert process.exitcode == -signal.SIGKILL
        assert_tracker_consistent(tmp_path)
        assert_index_matches_records(FileJobTracker(tmp_path))  # what it left half done is replayed
        # the dead writer left no lock behind: a new writer gets through at once
        run_with_deadline(tracker.update, job_ids[0], reason=f"after kill {round_no}")
        assert tracker.get(job_ids[0]).reason == f"after kill {round_no}"
    assert len(tracker.list_owner("killed")) >= 1


# -- datasets --------------------------------------------------------------------------------------------
def _add(tracker: FileDatasetTracker, owner: str, data: bytes):
    fd, path = tracker.incoming_file()
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    sha = hashlib.sha256(data).hexdigest()
    return tracker.add(owner, {"name": owner, "description": "", "type": "alignment"}, path, sha, len(data), "fasta",
                       "nucleotide")


def test_dataset_ids_are_per_owner_and_content(tmp_path):
    tracker = FileDatasetTracker(tmp_path)
    data = b">a\nATG\n"
    first, created = _add(tracker, "alice", data)
    again, created_again = _add(tracker, "alice", data)
    other, _ = _add(tracker, "bob", data)
    assert created and not created_again
    assert first.id == again.id == dataset_id("alice", hashlib.sha256(data).hexdigest())
    assert other.id != first.id
    assert first.created == again.created
    assert [r.id for r in tracker.list_owner("alice")] == [first.id]
    assert list((tmp_path / "incoming").iterdir()) == []


def test_threads_adding_the_same_bytes_for_many_owners_share_one_blob(tmp_path):
    tracker = FileDatasetTracker(tmp_path)
    data = b">a\nATGATG\n>b\nATGATA\n"
    owners = [f"owner{i}" for i in range(12)]
    barrier = threading.Barrier(len(owners))
    records = {}

    def worker(owner):
        barrier.wait()
        records[owner] = _add(tracker, owner, data)[0]

    threads = [threading.Thread(target=worker, args=(o,)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blob = tracker.blob_path(hashlib.sha256(data).hexdigest())
    assert blob.read_bytes() == data
    assert len(list(blob.parent.glob("*.refs/*"))) == len(owners)
    assert list((tmp_path / "incoming").iterdir()) == []
    for owner in owners[:-1]:
        tracker.delete(records[owner])
        assert blob.exists()
    tracker.delete(records[owners[-1]])
    assert not blob.exists()


def _add_in_process(root: str, data: bytes, barrier, queue) -> None:
    tracker = FileDatasetTracker(Path(root))
    barrier.wait()
    record, created = _add(tracker, "same-owner", data)
    queue.put((record.id, created))


def test_processes_adding_the_same_upload_make_one_dataset(tmp_path):
    data = b">a\nATG\n>b\nATA\n" * 100
    workers = 6
    barrier, queue = FORK.Barrier(workers), FORK.Queue()
    with running(*[(_add_in_process, (str(tmp_path), data, barrier, queue))] * workers) as processes:
        results = [queue.get(timeout=DEADLINE_S) for _ in range(workers)]
        join_all(processes)
    assert len({ds_id for ds_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    tracker = FileDatasetTracker(tmp_path)
    assert len(tracker.list_owner("same-owner")) == 1
    assert tracker.blob_path(hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_all_lists_every_job_of_every_owner_once(tmp_path):
    tracker = FileJobTracker(tmp_path)
    jobs = [make_record(key=f"k{i}", owner=f"owner{i % 3}") for i in range(7)]
    for job in jobs:
        tracker.create_or_get(job, reuse=lambda old: True)
    tracker.delete(jobs[0].job_id)
    assert sorted(j.job_id for j in tracker.all()) == sorted(j.job_id for j in jobs[1:])


def test_an_attempt_takes_over_the_request_key_and_can_be_abandoned(tmp_path):
    from service.trackers.jobs import AttemptConflict

    tracker = FileJobTracker(tmp_path)
    first, _ = tracker.create_or_get(make_record(), reuse=lambda old: True)
    tracker.update(first.job_id, state=ERROR)
    second = make_record()
    tracker.create_attempt(second, replaces=first.job_id)
    assert tracker.find_by_key(REQUEST_KEY).job_id == second.job_id
    assert tracker.get(first.job_id).retried_as == second.job_id
    with pytest.raises(AttemptConflict):
        tracker.create_attempt(make_record(), replaces=first.job_id)
    tracker.abandon_attempt(second, replaces=first.job_id)
    assert tracker.get(second.job_id) is None and tracker.get(first.job_id).retried_as is None
    assert tracker.find_by_key(REQUEST_KEY).job_id == first.job_id


def test_start_up_sweeps_only_idle_partial_uploads(tmp_path):
    tracker = FileDatasetTracker(tmp_path)
    fd_old, old = tracker.incoming_file()
    fd_new, new = tracker.incoming_file()
    for fd in (fd_old, fd_new):
        os.write(fd, b">a\nACGT")
        os.close(fd)
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    assert tracker.sweep_incoming() == 1
    assert not old.exists() and new.exists()  # a stream in progress keeps its file
