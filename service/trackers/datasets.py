"""FileDatasetTracker: uploaded alignments and trees, content-addressed and owner-scoped.

Layout under DATASET_LOCATION:

    blobs/ab/<sha256>            the bytes, stored once whoever uploads them
    blobs/ab/<sha256>.refs/<id>  one marker per dataset using the blob (deleted with the last)
    records/cd/<id>.json         metadata (name, description, type, owner, sizes, format)
    profiles/ab/<sha256>.<what>.json  what the content holds (service.datasets.profile), per blob
    owners/<owner>/<id>          marker for listing one owner's datasets
    incoming/                    uploads being streamed; moved into blobs/ only when complete

The dataset id is derived from owner and content (32 hex like upstream's ids): the same bytes
uploaded twice by one owner give the same id; two owners get two ids sharing one blob.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.trackers.fs import JsonRecord, atomic_write_json, locked, read_json, sharded, storage_guard, touch
from service.trackers.jobs import utc_now

log = logging.getLogger(__name__)


@dataclass
class DatasetRecord(JsonRecord):
    id: str
    owner: str
    name: str
    description: str
    type: str
    content_sha256: str
    size: int
    format: str = ""
    alphabet: str = ""
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)



#: An upload file unchanged this long belongs to no live request (streams write continuously).
INCOMING_IDLE_S = 3600.0


def dataset_id(owner: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{owner}\0{content_sha256}".encode()).hexdigest()[:32]


class FileDatasetTracker:
    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("blobs", "records", "owners", "incoming", "locks", "profiles"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def _lock(self, key: str):
        return locked(self.root / "locks" / f"blob-{key[:2]}.lock", "dataset store")

    def blob_path(self, content_sha256: str) -> Path:
        return sharded(self.root / "blobs", content_sha256)

    def _sidecar_path(self, content_sha256: str, what: str) -> Path:
        return sharded(self.root / "profiles", content_sha256, f".{what}.json")

    def read_sidecar(self, content_sha256: str, what: str) -> Any | None:
        """A stored profile of this content (`what`: "profile", "stops-<code>"), or None."""
        try:
            return read_json(self._sidecar_path(content_sha256, what))
        except (OSError, ValueError):  # unreadable: recomputed (and rewritten if the store allows)
            return None

    def write_sidecar(self, content_sha256: str, what: str, data: Any) -> None:
        """Store a profile; a cache, so a store that refuses the write only costs a recomputation."""
        try:
            atomic_write_json(self._sidecar_path(content_sha256, what), data)
        except Exception as exc:  # OSError, or the store's own "unavailable" error
            log.warning("dataset profile not stored", extra={"content": content_sha256, "what": what, "error": str(exc)})

    def _delete_sidecars(self, content_sha256: str) -> None:
        folder = self._sidecar_path(content_sha256, "x").parent
        for path in folder.glob(f"{content_sha256}.*.json"):
            path.unlink(missing_ok=True)

    def _record_path(self, ds_id: str) -> Path:
        return sharded(self.root / "records", ds_id, ".json")

    def incoming_file(self) -> tuple[int, Path]:
        """A fresh temp file on the same file system as the blobs (so adding is a rename)."""
        with storage_guard(self.root / "incoming", "dataset store"):
            fd, path = tempfile.mkstemp(dir=self.root / "incoming", prefix="upload-")
        return fd, Path(path)

    def sweep_incoming(self, idle_s: float = INCOMING_IDLE_S) -> int:
        """Remove uploads a killed process left half-written (at start-up; never visible as
        datasets). Only files idle for `idle_s`: another process may be streaming into the rest."""
        removed = 0
        cutoff = time.time() - idle_s
        for path in (self.root / "incoming").glob("upload-*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # finished or swept by another process meanwhile
                continue
            except OSError as exc:  # a read-only store: nothing to gain at start-up
                log.warning("stale upload not removed", extra={"file": path.name, "error": exc.strerror})
        if removed:
            log.info("removed stale partial uploads", extra={"count": removed})
        return removed

    def get(self, ds_id: str) -> DatasetRecord | None:
        if not ds_id.isalnum():
            return None
        data = read_json(self._record_path(ds_id))
        return DatasetRecord.from_dict(data) if data else None

    def list_owner(self, owner: str) -> list[DatasetRecord]:
        folder = self.root / "owners" / owner
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        return [r for r in (self.get(n) for n in names) if r is not None]

    def add(self, owner: str, meta: dict[str, str], incoming: Path, content_sha256: str, size: int, fmt: str,
            alphabet: str) -> tuple[DatasetRecord, bool]:
        """Adopt a completely written upload. Returns (record, created)."""
        ds_id = dataset_id(owner, content_sha256)
        blob = self.blob_path(content_sha256)
        with self._lock(content_sha256):
            if blob.exists():
                incoming.unlink(missing_ok=True)
            else:
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.replace(incoming, blob)
            touch(blob.with_name(blob.name + ".refs") / ds_id)
            existing = self.get(ds_id)
            record = DatasetRecord(
                id=ds_id, owner=owner, name=meta.get("name", ""), description=meta.get("description", ""),
                type=meta.get("type", ""), content_sha256=content_sha256, size=size, format=fmt, alphabet=alphabet,
                created=existing.created if existing else utc_now(),
            )
            atomic_write_json(self._record_path(ds_id), record.to_dict())
            touch(self.root / "owners" / owner / ds_id)
        return record, existing is None

    def delete(self, record: DatasetRecord) -> bool:
        """Forget the dataset; True when its content went with it (no other dataset had it)."""
        blob = self.blob_path(record.content_sha256)
        refs = blob.with_name(blob.name + ".refs")
        with self._lock(record.content_sha256):
            (self.root / "owners" / record.owner / record.id).unlink(missing_ok=True)
            self._record_path(record.id).unlink(missing_ok=True)
            (refs / record.id).unlink(missing_ok=True)
            if refs.exists() and not any(refs.iterdir()):
                shutil.rmtree(refs, ignore_errors=True)
                blob.unlink(missing_ok=True)
                self._delete_sidecars(record.content_sha256)
                return True
        return False

    def copy_content(self, record: DatasetRecord, destination: Path) -> None:
        """Copy the dataset's bytes into a job directory (a copy, so no job can alter a blob)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.blob_path(record.content_sha256), destination)
