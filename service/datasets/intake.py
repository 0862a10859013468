"""Stream an upload to disk (hashing as it goes) and recognise what kind of text it is.

Only cheap, format-level checks live here: the upload must be non-empty UTF-8 text without NUL
bytes, under the size limit. What a method needs from the data is checked at job start.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from service.errors import FieldError, InvalidRequest, PayloadTooLarge
from service.trackers.fs import storage_error

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Intake:
    path: Path
    sha256: str
    size: int
    format: str
    alphabet: str


def stream_to_file(source: BinaryIO, fd: int, path: Path, max_bytes: int) -> Intake:
    """Copy `source` into the open file `fd` chunk by chunk; never holds the whole upload.

    On any refusal the partial file is removed, so nothing half-written stays behind; a full or
    unwritable store raises StorageUnavailable (503).
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"file: dataset exceeds the upload limit of {max_bytes} bytes")
                if b"\0" in chunk:
                    raise InvalidRequest(FieldError("file", "binary content (NUL bytes): upload a text alignment or tree"))
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise InvalidRequest(FieldError("file", "not UTF-8 text: upload a text alignment or tree")) from None
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise InvalidRequest(FieldError("file", "not UTF-8 text (truncated character at the end)")) from None
            if not head.strip():
                raise InvalidRequest(FieldError("file", "empty file: upload an alignment (FASTA/NEXUS/PHYLIP) or a Newick tree"))
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        path.unlink(missing_ok=True)
        # A full or unwritable store is a 503 naming it, not a 500 (the partial file is gone).
        unavailable = storage_error(exc, path, "dataset store")
        if unavailable is not None:
            raise unavailable from exc
        raise
    fmt = detect_format(head)
    return Intake(path, digest.hexdigest(), size, fmt, detect_alphabet(path, fmt))


def detect_format(head: bytes) -> str:
    """fasta / nexus / phylip / newick / unknown, from the first non-blank line."""
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    if first.upper().startswith(b"#NEXUS"):
        return "nexus"
    if first.startswith((b">", b"#")):
        return "fasta"  # HyPhy reads "#name" headers (its older examples, e.g. data/brown.nuc) as FASTA
    if first.startswith(b"("):
        return "newick"
    if re.fullmatch(rb"\d+\s+\d+.*", first):
        return "phylip"
    return "unknown"


#: Alignment formats we read (service.datasets.profile: Biopython for FASTA/PHYLIP, our NEXUS reader).
_ALIGNMENT_FORMATS = ("fasta", "nexus", "phylip")
_NUCLEOTIDES = frozenset("ACGTUN")
_ALPHABET_SAMPLE = 200_000


def detect_alphabet(path: Path, fmt: str) -> str:
    """'nucleotide', 'protein' or 'unknown' (unparseable, or not an alignment format).

    Nucleotide when at least 90 % of the residue letters (gaps and `?` aside) are A/C/G/T/U/N,
    judged on up to the first 200 000 letters.
    """
    from service.datasets.profile import read_rows

    if fmt not in _ALIGNMENT_FORMATS:
        return "unknown"
    letters = total = 0
    try:
        for _name, sequence in read_rows(path, fmt):
            sequence = sequence.upper()
            total += sum(1 for c in sequence if c.isalpha())
            letters += sum(1 for c in sequence if c in _NUCLEOTIDES)
            if total >= _ALPHABET_SAMPLE:
                break
    except Exception:  # Biopython raises many types on malformed input; deeper checks come later
        return "unknown"
    if total == 0:
        return "unknown"
    return "nucleotide" if letters >= 0.9 * total else "protein"
