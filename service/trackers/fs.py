"""Small file-system primitives the file-based trackers share: atomic writes and sharded paths.

A record is written to a temporary file in the same directory, fsynced and renamed over the old
one, so a reader (or a process killed mid-write) only ever sees a complete old or new record.

A write the file system refuses for want of space or permission (full disk, quota, read-only
mount, unwritable directory) raises `StorageUnavailable` (503 with Retry-After, naming the store)
instead of the OSError, once the partial temporary file is removed: the old record is intact.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from filelock import FileLock

from service.errors import StorageUnavailable

log = logging.getLogger(__name__)

#: OS errors meaning "this store cannot take writes now" (not a bug in the request or in us).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
#: Each store, recognised by the sub-directories its tracker creates (to name it in errors).
_LAYOUTS = (
    ("job tracker", frozenset({"records", "keys", "active"})),
    ("dataset store", frozenset({"blobs", "records", "incoming"})),
)
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def store_name(path: Path) -> str:
    """Which store `path` is in: "job tracker", "dataset store", "job work", "session store" or "data"."""
    path = Path(path)
    ancestors = list(path.parents)[:4]
    if any(_JOB_ID.fullmatch(folder.name) for folder in ancestors):
        return "job work"  # JOB_WORK_LOCATION/<job id>/…
    for folder in ancestors:
        for name, layout in _LAYOUTS:
            if all((folder / sub).is_dir() for sub in layout):
                return name
    if _SHARD.fullmatch(path.parent.name) and _DIGEST.fullmatch(path.name):
        return "session store"  # SESSION_LOCATION/ab/<sha256 of the token>
    return "data"


def storage_error(exc: BaseException, path: Path, store: str | None = None) -> StorageUnavailable | None:
    """The StorageUnavailable to raise for `exc` (a write to `path` failed), or None if it is not
    a storage condition (then the original exception should propagate)."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if not isinstance(exc, OSError) or exc.errno not in STORAGE_ERRNOS:
        return None
    store = store or store_name(path)
    log.error("storage refused a write", extra={"store": store, "path": str(path), "error": str(exc)})
    return StorageUnavailable(store, exc)


@contextmanager
def storage_guard(path: Path, store: str | None = None) -> Iterator[None]:
    """Turn a storage OSError raised inside the block (writing `path`) into StorageUnavailable."""
    try:
        yield
    except OSError as exc:
        unavailable = storage_error(exc, path, store)
        if unavailable is None:
            raise
        raise unavailable from exc


@contextmanager
def locked(path: Path, store: str | None = None) -> Iterator[None]:
    """Hold the flock file `path` (created if missing). A store where it cannot be created or
    opened (read-only, no inodes left, not permitted) raises StorageUnavailable, not OSError."""
    lock = FileLock(str(path))
    with storage_guard(path, store):
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def sharded(root: Path, key: str, suffix: str = "") -> Path:
    """`root/ab/abcdef…suffix`: 256 fan-out directories keep any one directory small."""
    return root / key[:2] / f"{key}{suffix}"


def atomic_write_bytes(path: Path, data: bytes, store: str | None = None) -> None:
    """Replace `path` with `data` all at once. `store` names the store in a StorageUnavailable
    (default: recognised from the path)."""
    with storage_guard(path, store):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_json(path: Path, data: Any, store: str | None = None) -> None:
    atomic_write_bytes(path, json.dumps(data, sort_keys=True, separators=(",", ":")).encode(), store)


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def touch(path: Path, store: str | None = None) -> None:
    with storage_guard(path, store):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


class JsonRecord:
    """Mixin for a tracker's record dataclass: to and from its stored JSON form.

    Unknown keys are dropped on load, so records written by a newer version still load.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})
