"""FileJobTracker: one JSON record per job, O(1) lookups by job id and by request key.

Layout under JOB_TRACKER_LOCATION (pulsar-style: one file per fact, a folder of markers for the
active set):

    records/ab/<job_id>.json     the record, replaced atomically on every change
    keys/cd/<request_key>        the job id that request key currently maps to
    owners/<owner>/<job_id>      empty marker: list one owner's jobs without a scan of all jobs
    active/<job_id>              empty marker while the job is not final: restart recovery set
    locks/                       flock files (sharded) serialising writers across processes
    index/                       derived from the records, so GET /jobs and /metrics never read
                                 them all (rebuilt from them when VERSION is missing or older):
      VERSION                      the index format
      counts.json                  {method: {lifecycle state: jobs}}: the datamonkey_jobs gauge
      owners/<owner>/created       SortedLines (fs.py) by (created, job_id): a page of the
                                   owner's jobs newest first, from any cursor, without a scan;
                                   each line also holds the method, state and finish instant
      owners/<owner>/finished      SortedLines of the final jobs by finish instant: `since`
      owners/<owner>/active/<id>   marker: the owner's jobs not yet final (the only ones a
                                   state filter must ask the scheduler about)
    pending/<job_id>             a write between record and index ("<owner> <created>" it was
                                 indexed under); a process killed there leaves it, and the next
                                 tracker opened replays it from the record

Records stay the source of truth. The index is written under one lock (locks/index.lock) after
the record, only when something it holds changes (progress updates do not touch it), and each
step is idempotent (it compares with the line actually indexed), so a replay or a rebuild racing
a writer never counts a job twice. Plain files, not sqlite: sqlite's locking is unreliable on
network file systems (its FAQ says so; WAL mode needs shared memory), and the job store must work
on the shared file system the compute nodes see.

Upstream kept every job in one tab-separated file scanned linearly and keyed by Slurm id; that
breaks at scale and when Slurm ids restart. Here our own random job id is the key.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from service.trackers.fs import (
    JsonRecord,
    SortedLines,
    atomic_write_bytes,
    atomic_write_json,
    locked,
    read_json,
    sharded,
    storage_guard,
    touch,
)

log = logging.getLogger(__name__)

QUEUED, RUNNING, COMPLETED, ERROR = "queued", "running", "completed", "error"
CANCELLED = "cancelled"
FINAL_STATES = frozenset({COMPLETED, ERROR})
#: The index format (index/VERSION): a tracker finding another one rebuilds the index.
INDEX_VERSION = "1"
STORE = "job tracker"
_LEAP_SECOND = re.compile(r"(T\d\d:\d\d):60(?:\.\d+)?")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 date-time (lower-case `t`/`z` and a leap second too; no offset means UTC) as an
    aware datetime, or None when it is not one."""
    try:
        parsed = datetime.fromisoformat(_LEAP_SECOND.sub(r"\1:59.999999", value.upper()))
    except (AttributeError, TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def instant_key(moment: datetime) -> str:
    """`moment` in UTC to the microsecond, four-digit year: such strings sort as the instants do,
    so the finished index compares times as `since` means them (offsets, precision) by bytes."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass
class JobRecord(JsonRecord):
    """Everything we know about one job. `state` uses upstream's JobStatus vocabulary."""

    job_id: str
    owner: str
    method: str
    request_key: str
    options: dict[str, Any]
    datasets: dict[str, str | None]
    inputs: dict[str, str | None]
    workdir: str
    scheduler: str
    resources: dict[str, int]
    state: str = QUEUED
    reason: str = ""
    progress: str = ""
    #: service.hyphy.Progress.detail(): phase, step, done, total, fraction (what is known).
    progress_detail: dict[str, Any] = field(default_factory=dict)
    native_id: str = ""
    #: The cluster user the job runs as when the client sent its own Slurm token ("" = the service's).
    cluster_user: str = ""
    scheduler_info: dict[str, Any] = field(default_factory=dict)
    # (Records written before service/jobdir.py named every file in `workdir` also hold `paths`,
    # those files' absolute paths, read by nothing: from_dict drops it.)
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)
    started: str | None = None
    finished: str | None = None
    #: When POST /jobs/{id}/cancel stopped it (the job is then `error`, its state `cancelled`).
    cancelled: str | None = None
    #: The owner's own notes on the job (PATCH /jobs/{id}): {"labels": {k: v}, "notes": "..."}.
    annotations: dict[str, Any] = field(default_factory=dict)
    #: Earlier attempts of this analysis (POST /jobs/{id}/retry), oldest first.
    previous_job_ids: list[str] = field(default_factory=list)
    #: The attempt that replaced this one, once retried.
    retried_as: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def lifecycle_state(self) -> str:
        """`state`, except "cancelled" for a job stopped by POST /jobs/{id}/cancel (its upstream
        status is "error")."""
        return "cancelled" if self.cancelled else self.state


#: Lifecycle state ↔ the one letter an index line stores (keeps lines within SortedLines.WIDTH).
_STATE_CODES = {QUEUED: "q", RUNNING: "r", COMPLETED: "c", ERROR: "e", CANCELLED: "x"}
_CODE_STATES = {code: state for state, code in _STATE_CODES.items()}


@dataclass(frozen=True)
class IndexEntry:
    """What the index holds about one job: enough to order, page and filter by method, state and
    finish time, and to count it, without reading its record."""

    created: str
    job_id: str
    method: str
    #: The lifecycle state ("cancelled" for a cancelled job).
    state: str
    #: instant_key of `finished` once the job is final ("" before, or when unreadable).
    finished: str

    @classmethod
    def of(cls, record: JobRecord) -> IndexEntry:
        moment = parse_time(record.finished) if record.final else None
        return cls(record.created, record.job_id, record.method, record.lifecycle_state,
                   instant_key(moment) if moment else "")

    @property
    def page_key(self) -> tuple[str, str]:
        return self.created, self.job_id

    @property
    def finished_key(self) -> tuple[str, str, str]:
        return self.finished, self.created, self.job_id

    @property
    def status(self) -> str:
        """Upstream's status (`state` of the record): a cancelled job is "error"."""
        return ERROR if self.state == CANCELLED else self.state

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    # one line per index file; fields never contain spaces (checked on encoding)
    def created_line(self) -> bytes:
        return _fields(self.created, self.job_id, self.method, _STATE_CODES[self.state], self.finished or "-")

    def finished_line(self) -> bytes:
        return _fields(self.finished, self.created, self.job_id, self.method, _STATE_CODES[self.state])

    @classmethod
    def from_created_line(cls, line: bytes) -> IndexEntry:
        created, job_id, method, code, finished = line.decode().split(" ")
        return cls(created, job_id, method, _CODE_STATES[code], "" if finished == "-" else finished)

    @classmethod
    def from_finished_line(cls, line: bytes) -> IndexEntry:
        finished, created, job_id, method, code = line.decode().split(" ")
        return cls(created, job_id, method, _CODE_STATES[code], finished)


def _fields(*values: str) -> bytes:
    if any(not value or any(c.isspace() for c in value) for value in values):
        raise ValueError(f"an index field is empty or holds white space: {values!r}")
    return " ".join(values).encode()


def _created_key(line: bytes) -> tuple[str, str]:
    created, job_id = line.split(b" ", 2)[:2]
    return created.decode(), job_id.decode()


def _finished_key(line: bytes) -> tuple[str, str, str]:
    finished, created, job_id = line.split(b" ", 3)[:3]
    return finished.decode(), created.decode(), job_id.decode()


class AttemptConflict(Exception):
    """A job cannot get a new attempt: a later one exists."""


def new_job_id() -> str:
    """32 hex characters, matching upstream's `Hash` pattern."""
    return uuid.uuid4().hex


class FileJobTracker:
    """Job records on a (possibly shared) file system; safe across threads and processes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("records", "keys", "owners", "active", "locks", "pending"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._check_index()

    # -- locking -------------------------------------------------------------------------
    def _lock(self, namespace: str, key: str):
        return locked(self.root / "locks" / f"{namespace}-{key[:2]}.lock", STORE)

    def _index_lock(self):
        return locked(self.root / "locks" / "index.lock", STORE)

    # -- paths ---------------------------------------------------------------------------
    def _record_path(self, job_id: str) -> Path:
        return sharded(self.root / "records", job_id, ".json")

    def _key_path(self, request_key: str) -> Path:
        return sharded(self.root / "keys", request_key)

    def _owner_index(self, owner: str, index: Path | None = None) -> Path:
        return (index or self.root / "index") / "owners" / owner

    def _by_created(self, owner: str, index: Path | None = None) -> SortedLines:
        return SortedLines(self._owner_index(owner, index) / "created", _created_key, STORE)

    def _by_finished(self, owner: str, index: Path | None = None) -> SortedLines:
        return SortedLines(self._owner_index(owner, index) / "finished", _finished_key, STORE)

    # -- reads ---------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        if not job_id.isalnum():
            return None
        data = read_json(self._record_path(job_id))
        return JobRecord.from_dict(data) if data else None

    def find_by_key(self, request_key: str) -> JobRecord | None:
        try:
            job_id = self._key_path(request_key).read_text().strip()
        except FileNotFoundError:
            return None
        return self.get(job_id)

    def list_owner(self, owner: str) -> list[JobRecord]:
        return list(self._records_in(self.root / "owners" / owner))

    def all(self) -> Iterator[JobRecord]:
        """Every job, in no order (an index rebuild reads them): one directory walk, records read lazily."""
        for shard in sorted((self.root / "records").iterdir()):
            for entry in sorted(shard.glob("*.json")) if shard.is_dir() else ():
                record = self.get(entry.stem)
                if record is not None:  # deleted meanwhile
                    yield record

    def active(self) -> list[JobRecord]:
        """Jobs not yet final: what a restart must re-check."""
        return list(self._records_in(self.root / "active"))

    def owner_active(self, owner: str) -> list[JobRecord]:
        """One owner's jobs not yet final (the only ones whose state can still change)."""
        return [job for job in self._records_in(self._owner_index(owner) / "active") if job.owner == owner]

    def owner_jobs(self, owner: str, before: tuple[str, str] | None = None) -> Iterator[IndexEntry]:
        """One owner's jobs newest first by (created, job_id), from just below the cursor `before`:
        read from the index as needed (a page of 50 reads 50 lines), records untouched."""
        return map(IndexEntry.from_created_line, self._by_created(owner).backward(before))

    def owner_finished_since(self, owner: str, since: datetime) -> Iterator[IndexEntry]:
        """One owner's final jobs that finished at or after `since`, earliest finish first."""
        return map(IndexEntry.from_finished_line, self._by_finished(owner).forward((instant_key(since),)))

    def counts(self) -> dict[tuple[str, str], int]:
        """{(method, lifecycle state): jobs}: one small file, kept as jobs are written."""
        stored = read_json(self.root / "index" / "counts.json") or {}
        return {(method, state): n for method, states in stored.items() for state, n in states.items()}

    def _records_in(self, folder: Path) -> Iterator[JobRecord]:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return
        for job_id in names:
            record = self.get(job_id)
            if record is not None:
                yield record

    # -- writes --------------------------------------------------------------------------
    def create_or_get(
        self, record: JobRecord, reuse: Callable[[JobRecord], bool]
    ) -> tuple[JobRecord, bool]:
        """Store `record` unless its request key maps to a job that `reuse` accepts.

        Returns (the job to use, whether it was created). Serialised per request key, so two
        identical concurrent requests create one job.
        """
        with self._lock("key", record.request_key):
            existing = self.find_by_key(record.request_key)
            if existing is not None and reuse(existing):
                return existing, False
            self._store_new(record)
            return record, True

    def create_attempt(self, record: JobRecord, replaces: str) -> JobRecord:
        """Store `record` as the next attempt of job `replaces` (same request key): the key then
        maps to it and the old job's `retried_as` names it. Raises AttemptConflict when the old
        job was retried already or its request key maps to a newer job."""
        with self._lock("job", replaces):  # job → key: the order delete() takes them in
            old = self.get(replaces)
            if old is None:
                raise KeyError(replaces)
            if old.retried_as:
                raise AttemptConflict(f"this job was already retried as {old.retried_as}: retry that one")
            with self._lock("key", old.request_key):
                current = self.find_by_key(old.request_key)
                if current is not None and current.job_id != replaces:
                    raise AttemptConflict(f"job {current.job_id} was started since with the same request: "
                                          "use or retry that one")
                self._store_new(record)
            self._write(dataclasses.replace(old, retried_as=record.job_id, updated=utc_now()), old)
            return record

    def abandon_attempt(self, attempt: JobRecord, replaces: str) -> None:
        """Undo create_attempt (the new attempt could not be submitted): the request key and
        the old job are as they were."""
        self.delete(attempt.job_id)
        with self._lock("job", replaces):
            old = self.get(replaces)
            if old is None:
                return
            with self._lock("key", old.request_key):
                if self.find_by_key(old.request_key) is None:
                    atomic_write_bytes(self._key_path(old.request_key), replaces.encode())
            if old.retried_as == attempt.job_id:
                self._write(dataclasses.replace(old, retried_as=None, updated=utc_now()), old)

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        """Apply `changes` to the stored record atomically (read-modify-write under a lock)."""
        return self.modify(job_id, lambda record: [setattr(record, name, value) for name, value in changes.items()])

    def modify(self, job_id: str, apply: Callable[[JobRecord], Any]) -> JobRecord:
        """Run `apply` on the stored record and save it, atomically (e.g. a merge that must see
        the latest record). When `apply` returns False nothing is written (a decision made on the
        latest record found nothing to change). KeyError when the job no longer exists."""
        with self._lock("job", job_id):
            record = self.get(job_id)
            if record is None:
                raise KeyError(job_id)
            stored = dataclasses.replace(record)  # `apply` changes `record` in place
            if apply(record) is False:
                return record
            record.updated = utc_now()
            self._write(record, stored)
            return record

    def delete(self, job_id: str) -> None:
        with self._lock("job", job_id):
            record = self.get(job_id)
            if record is None:
                return
            with self._pending(job_id, record):
                with self._lock("key", record.request_key):
                    key_path = self._key_path(record.request_key)
                    try:
                        if key_path.read_text().strip() == job_id:
                            key_path.unlink()
                    except FileNotFoundError:
                        pass
                (self.root / "owners" / record.owner / job_id).unlink(missing_ok=True)
                (self.root / "active" / job_id).unlink(missing_ok=True)
                self._record_path(job_id).unlink(missing_ok=True)
                self._sync_index(job_id, (record.owner, record.created), None)

    def _store_new(self, record: JobRecord) -> None:
        """A new job: its record, its owner marker, and its request key now mapping to it (the
        caller holds that key's lock)."""
        self._write(record, None)
        touch(self.root / "owners" / record.owner / record.job_id, STORE)
        atomic_write_bytes(self._key_path(record.request_key), record.job_id.encode())

    def _write(self, record: JobRecord, stored: JobRecord | None) -> None:
        """Save `record` (`stored`: the record it replaces, None for a new job) and, when what the
        index holds about it changed, the index: most writes (progress) leave it alone."""
        if stored is not None and stored.owner == record.owner and IndexEntry.of(stored) == IndexEntry.of(record):
            self._write_record(record)
            return
        with self._pending(record.job_id, stored):
            self._write_record(record)
            self._sync_index(record.job_id, (stored.owner, stored.created) if stored else None, record)

    def _write_record(self, record: JobRecord) -> None:
        marker = self.root / "active" / record.job_id
        new_marker = not record.final and not marker.exists()
        if not record.final:
            touch(marker)
        try:
            atomic_write_json(self._record_path(record.job_id), record.to_dict())
        except BaseException:
            if new_marker:  # a refused first write leaves no marker without a record
                marker.unlink(missing_ok=True)
            raise
        if record.final:
            marker.unlink(missing_ok=True)

    # -- the index -------------------------------------------------------------------------
    @contextmanager
    def _pending(self, job_id: str, indexed: JobRecord | None) -> Iterator[None]:
        """Mark a write of `job_id` in progress (`indexed`: the record as indexed before it, None
        for a new job). Left behind by a process killed between the record and the index, the
        marker is replayed when a tracker next opens. A write that fails here instead (a full
        disk) re-syncs the index from whatever record is stored now, so the marker can go."""
        marker = self.root / "pending" / job_id
        with storage_guard(marker, STORE):  # not fsynced: it only matters to a process crash
            marker.write_text(f"{indexed.owner} {indexed.created}" if indexed is not None else "")
        try:
            yield
        except Exception:
            with suppress(Exception):  # the store still refuses: the marker stays for the next open
                self._sync_index(job_id, (indexed.owner, indexed.created) if indexed else None, self.get(job_id))
                marker.unlink()
            raise
        marker.unlink(missing_ok=True)

    def _sync_index(self, job_id: str, indexed_as: tuple[str, str] | None, record: JobRecord | None) -> None:
        """Make the index say what `record` says (None: the job is gone). `indexed_as` is the
        (owner, created) the job was indexed under before this write (None: a new job).

        Compared with the line actually in the owner's `created` file, not with what the caller
        believes, and that line is written last: once it is right, so is the rest, and a replay
        or a rebuild that already read the new record does nothing twice. (The counts, written
        after it, are recounted from the lines whenever a write is replayed.)
        """
        new = IndexEntry.of(record) if record is not None else None
        new_owner = record.owner if record is not None else None
        places = [p for p in (indexed_as, (record.owner, record.created) if record else None) if p]
        with self._index_lock():
            old_owner, old = next(((owner, entry) for owner, created in dict.fromkeys(places)
                                   if (entry := self._indexed(owner, created, job_id))), (None, None))
            if (old_owner, old) == (new_owner, new):
                return
            same_owner = old is not None and new is not None and old_owner == new_owner
            if old is not None and old.finished and not (same_owner and old.finished_key == new.finished_key):
                self._by_finished(old_owner).discard(old.finished_key)
            if new is not None and new.finished:
                self._by_finished(new_owner).put(new.finished_line())
            if old is not None and not old.final and not (same_owner and not new.final):
                (self._owner_index(old_owner) / "active" / job_id).unlink(missing_ok=True)
            if new is not None and not new.final:
                touch(self._owner_index(new_owner) / "active" / job_id, STORE)
            if new is not None:
                self._by_created(new_owner).put(new.created_line())
            if old is not None and not (same_owner and old.page_key == new.page_key):
                self._by_created(old_owner).discard(old.page_key)
            self._count(old, new)

    def _indexed(self, owner: str, created: str, job_id: str) -> IndexEntry | None:
        line = self._by_created(owner).get((created, job_id))
        return IndexEntry.from_created_line(line) if line else None

    def _count(self, old: IndexEntry | None, new: IndexEntry | None) -> None:
        """Move the job from its old (method, state) count to its new one (caller holds the index lock)."""
        if old is not None and new is not None and (old.method, old.state) == (new.method, new.state):
            return
        path = self.root / "index" / "counts.json"
        counts = read_json(path) or {}
        for entry, delta in ((old, -1), (new, 1)):
            if entry is not None:
                by_state = counts.setdefault(entry.method, {})
                by_state[entry.state] = max(0, by_state.get(entry.state, 0) + delta)
        atomic_write_json(path, counts, STORE)

    def _check_index(self) -> None:
        """At open: rebuild the index when it is missing or of another format, then replay the
        writes a killed process left half done."""
        if self._index_version() != INDEX_VERSION:
            with self._index_lock():
                if self._index_version() != INDEX_VERSION:  # another process may have just built it
                    self._rebuild_index()
        replayed = [job_id for job_id in os.listdir(self.root / "pending")
                    if job_id.isalnum() and self._replay(job_id)]  # not an atomic write's temporary file
        if replayed:
            self._recount()

    def _index_version(self) -> str | None:
        try:
            return (self.root / "index" / "VERSION").read_text().strip()
        except FileNotFoundError:
            return None

    def _replay(self, job_id: str) -> bool:
        """Finish the index part of a write a process left half done; False if its writer finished meanwhile."""
        with self._lock("job", job_id):  # a live writer of this job finishes first
            marker = self.root / "pending" / job_id
            try:
                indexed = marker.read_text().split(" ", 1)
            except FileNotFoundError:
                return False
            self._sync_index(job_id, (indexed[0], indexed[1]) if len(indexed) == 2 else None, self.get(job_id))
            marker.unlink(missing_ok=True)
        log.info("job index entry replayed", extra={"job_id": job_id})
        return True

    def _recount(self) -> None:
        """Counts from the index lines (not the records: cheap), after a replay: the process that
        died may or may not have counted its write."""
        with self._index_lock():
            _write_counts(self.root / "index", (entry for owner in os.listdir(self.root / "index" / "owners")
                                                for entry in self.owner_jobs(owner)))

    def _rebuild_index(self) -> None:
        """Build the whole index from the records into a new folder and swap it in (the caller
        holds the index lock, so no write lands in between)."""
        started = time.perf_counter()
        build = self.root / f"index.build-{uuid.uuid4().hex}"
        entries: dict[str, list[IndexEntry]] = defaultdict(list)
        for record in self.all():
            entry = IndexEntry.of(record)
            try:
                entry.created_line()
            except ValueError:  # one odd record must not keep the service from starting
                log.warning("job not indexed: its record holds what an index line cannot",
                            extra={"job_id": record.job_id})
                continue
            entries[record.owner].append(entry)
        with storage_guard(build, STORE):
            (build / "owners").mkdir(parents=True)
            for owner, owned in entries.items():
                self._by_created(owner, build).write_all(e.created_line() for e in owned)
                self._by_finished(owner, build).write_all(e.finished_line() for e in owned if e.finished)
                (self._owner_index(owner, build) / "active").mkdir(parents=True, exist_ok=True)
                for entry in owned:
                    if not entry.final:
                        (self._owner_index(owner, build) / "active" / entry.job_id).touch()
            _write_counts(build, (entry for owned in entries.values() for entry in owned))
            atomic_write_bytes(build / "VERSION", INDEX_VERSION.encode(), STORE)
            index, retired = self.root / "index", self.root / f"index.old-{uuid.uuid4().hex}"
            if index.exists():
                index.rename(retired)
            build.rename(index)
        shutil.rmtree(retired, ignore_errors=True)
        log.info("job index rebuilt from the records", extra={
            "jobs": sum(map(len, entries.values())), "owners": len(entries),
            "seconds": round(time.perf_counter() - started, 3)})


def _write_counts(index: Path, entries: Iterator[IndexEntry]) -> None:
    """index/counts.json from scratch: {method: {lifecycle state: jobs}}."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for entry in entries:
        counts[entry.method][entry.state] += 1
    atomic_write_json(index / "counts.json", counts, STORE)
