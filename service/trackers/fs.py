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
from collections.abc import Callable, Iterable, Iterator
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


class SortedLines:
    """A file of fixed-width lines kept sorted by a key: an ordered index on plain files.

    Fixed width makes line i addressable at i × WIDTH, so a key is found by binary search (17
    reads at 100 000 lines) and a page is read from its position without scanning the file.
    128-byte lines never straddle a 4 KiB page, so a reader sees a line rewritten in place
    either old or new, never torn. A line is a payload of space-separated fields (the caller's,
    no spaces inside), padding, a flag byte and a newline; `key` turns a payload into its sort key.

    New keys are nearly always the largest (a job created now, a job finishing now): appended.
    A key landing in the middle rewrites the file (atomically, dropping tombstones), which is
    rare. A removed line is cut off when it is the last one, else flagged dead in place: it
    keeps its key, so the order (and the binary search) still holds, and readers skip it.
    Writers must hold one lock for the file (the tracker's index lock); readers take none: a
    rewrite replaces the file, so an open reader keeps reading one consistent version.
    """

    WIDTH = 128
    LIVE, DEAD = b" ", b"-"
    #: Lines read per system call when walking a range.
    CHUNK = 256

    def __init__(self, path: Path, key: Callable[[bytes], tuple], store: str | None = None):
        self.path = Path(path)
        self.key = key
        self.store = store

    # -- reading -----------------------------------------------------------------------------
    def get(self, key: tuple) -> bytes | None:
        """The payload of the live line with this key, or None."""
        with self._reader() as (fd, count):
            position = self._bisect(fd, count, key)
            line = self._line(fd, position) if position < count else b""
        return self._payload(line) if line and self._alive(line) and self.key(self._payload(line)) == key else None

    def backward(self, before: tuple | None = None) -> Iterator[bytes]:
        """Payloads of the live lines with key < `before` (all without it), largest key first."""
        with self._reader() as (fd, count):
            end = count if before is None else self._bisect(fd, count, before)
            while end > 0:
                start = max(0, end - self.CHUNK)
                lines = self._lines(fd, start, end)
                yield from (self._payload(line) for line in reversed(lines) if self._alive(line))
                end = start

    def forward(self, start_key: tuple) -> Iterator[bytes]:
        """Payloads of the live lines with key >= `start_key`, smallest key first."""
        with self._reader() as (fd, count):
            start = self._bisect(fd, count, start_key)
            while start < count:
                end = min(count, start + self.CHUNK)
                yield from (self._payload(line) for line in self._lines(fd, start, end) if self._alive(line))
                start = end

    # -- writing (the caller holds the file's lock) ---------------------------------------------
    def put(self, payload: bytes) -> None:
        """Insert the line, or overwrite the line with the same key in place (idempotent)."""
        line = self._encode(payload)
        key = self.key(payload)
        with self._writer() as (fd, count):
            position = self._bisect(fd, count, key)
            if position == count:
                self._pwrite(fd, line, count)
                return
            if self.key(self._payload(self._line(fd, position))) == key:  # live, or dead and revived
                self._pwrite(fd, line, position)
                return
            lines = self._lines(fd, 0, count)
        lines.insert(position, line)
        self.write_all(self._payload(old) for old in lines if self._alive(old))

    def discard(self, key: tuple) -> None:
        """Remove the live line with this key, if any."""
        with self._writer() as (fd, count):
            position = self._bisect(fd, count, key)
            if position == count:
                return
            line = self._line(fd, position)
            if self.key(self._payload(line)) != key or not self._alive(line):
                return
            if position < count - 1:
                self._pwrite(fd, line[:-2] + self.DEAD + b"\n", position)
                return
            while position > 0 and not self._alive(self._line(fd, position - 1)):
                position -= 1  # dead lines left at the end go with it
            os.ftruncate(fd, position * self.WIDTH)
            os.fsync(fd)

    def write_all(self, payloads: Iterable[bytes]) -> None:
        """Replace the whole file with these payloads (sorted here)."""
        atomic_write_bytes(self.path, b"".join(map(self._encode, sorted(payloads, key=self.key))), self.store)

    # -- helpers ------------------------------------------------------------------------------
    @contextmanager
    def _reader(self) -> Iterator[tuple[int, int]]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            yield -1, 0
            return
        try:
            yield fd, os.fstat(fd).st_size // self.WIDTH
        finally:
            os.close(fd)

    @contextmanager
    def _writer(self) -> Iterator[tuple[int, int]]:
        with storage_guard(self.path, self.store):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                yield fd, os.fstat(fd).st_size // self.WIDTH
            finally:
                os.close(fd)

    def _bisect(self, fd: int, count: int, key: tuple) -> int:
        """The first position whose key is >= `key` (dead lines count: they keep their place)."""
        low, high = 0, count
        while low < high:
            middle = (low + high) // 2
            line = self._line(fd, middle)
            if line and self.key(self._payload(line)) < key:
                low = middle + 1
            else:
                high = middle
        return low

    def _line(self, fd: int, position: int) -> bytes:
        """Line `position`, or b"" when the file was cut shorter meanwhile."""
        line = os.pread(fd, self.WIDTH, position * self.WIDTH)
        return line if len(line) == self.WIDTH else b""

    def _lines(self, fd: int, start: int, end: int) -> list[bytes]:
        data = os.pread(fd, (end - start) * self.WIDTH, start * self.WIDTH)
        return [data[i:i + self.WIDTH] for i in range(0, len(data) - self.WIDTH + 1, self.WIDTH)]

    def _pwrite(self, fd: int, line: bytes, position: int) -> None:
        os.pwrite(fd, line, position * self.WIDTH)
        os.fsync(fd)

    def _encode(self, payload: bytes) -> bytes:
        if len(payload) > self.WIDTH - 2 or b"\n" in payload:
            raise ValueError(f"an index line holds at most {self.WIDTH - 2} bytes: {payload[:200]!r}")
        return payload.ljust(self.WIDTH - 2) + self.LIVE + b"\n"

    def _alive(self, line: bytes) -> bool:
        return line[-2:-1] == self.LIVE

    @staticmethod
    def _payload(line: bytes) -> bytes:
        return line[:-2].rstrip(b" ")
