"""FileJobTracker: one JSON record per job, O(1) lookups by job id and by request key.

Layout under JOB_TRACKER_LOCATION (pulsar-style: one file per fact, a folder of markers for the
active set):

    records/ab/<job_id>.json     the record, replaced atomically on every change
    keys/cd/<request_key>        the job id that request key currently maps to
    owners/<owner>/<job_id>      empty marker: list one owner's jobs without a scan of all jobs
    active/<job_id>              empty marker while the job is not final: restart recovery set
    locks/                       flock files (sharded) serialising writers across processes

Upstream kept every job in one tab-separated file scanned linearly and keyed by Slurm id; that
breaks at scale and when Slurm ids restart. Here our own random job id is the key.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from service.trackers.fs import JsonRecord, atomic_write_bytes, atomic_write_json, locked, read_json, sharded, touch

QUEUED, RUNNING, COMPLETED, ERROR = "queued", "running", "completed", "error"
FINAL_STATES = frozenset({COMPLETED, ERROR})


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    #: Where the run's stdout, stderr, exit status and HyPhy result live (inside `workdir`).
    paths: dict[str, str] = field(default_factory=dict)
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


class AttemptConflict(Exception):
    """A job cannot get a new attempt: a later one exists."""


def new_job_id() -> str:
    """32 hex characters, matching upstream's `Hash` pattern."""
    return uuid.uuid4().hex


class FileJobTracker:
    """Job records on a (possibly shared) file system; safe across threads and processes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("records", "keys", "owners", "active", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- locking -------------------------------------------------------------------------
    def _lock(self, namespace: str, key: str):
        return locked(self.root / "locks" / f"{namespace}-{key[:2]}.lock", "job tracker")

    # -- paths ---------------------------------------------------------------------------
    def _record_path(self, job_id: str) -> Path:
        return sharded(self.root / "records", job_id, ".json")

    def _key_path(self, request_key: str) -> Path:
        return sharded(self.root / "keys", request_key)

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
        """Every job, in no order (metrics count them): one directory walk, records read lazily."""
        for shard in sorted((self.root / "records").iterdir()):
            for entry in sorted(shard.glob("*.json")) if shard.is_dir() else ():
                record = self.get(entry.stem)
                if record is not None:  # deleted meanwhile
                    yield record

    def active(self) -> list[JobRecord]:
        """Jobs not yet final: what a restart must re-check."""
        return list(self._records_in(self.root / "active"))

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
            old.retried_as, old.updated = record.job_id, utc_now()
            self._write(old)
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
                old.retried_as, old.updated = None, utc_now()
                self._write(old)

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
            if apply(record) is False:
                return record
            record.updated = utc_now()
            self._write(record)
            return record

    def delete(self, job_id: str) -> None:
        with self._lock("job", job_id):
            record = self.get(job_id)
            if record is None:
                return
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

    def _store_new(self, record: JobRecord) -> None:
        """A new job: its record, its owner marker, and its request key now mapping to it (the
        caller holds that key's lock)."""
        self._write(record)
        touch(self.root / "owners" / record.owner / record.job_id)
        atomic_write_bytes(self._key_path(record.request_key), record.job_id.encode())

    def _write(self, record: JobRecord) -> None:
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
