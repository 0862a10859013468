"""Small file-system primitives the file-based trackers share: atomic writes and sharded paths.

A record is written to a temporary file in the same directory, fsynced and renamed over the old
one, so a reader (or a process killed mid-write) only ever sees a complete old or new record.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any


def sharded(root: Path, key: str, suffix: str = "") -> Path:
    """`root/ab/abcdef…suffix`: 256 fan-out directories keep any one directory small."""
    return root / key[:2] / f"{key}{suffix}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
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


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, sort_keys=True, separators=(",", ":")).encode())


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def touch(path: Path) -> None:
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
