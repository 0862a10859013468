"""A job's output for GET /jobs/{jobId}/logs: cleaned text, its last lines, or a live SSE stream.

HyPhy's stdout carries colour codes and its stderr is a pseudo-terminal (service/hyphy.py), so
both are cleaned the way a terminal would show them. Following is Server-Sent Events: each
complete line is one `log` event whose `id` is the byte offset after it, so a client that
reconnects with `Last-Event-ID` (browsers' EventSource does) resumes exactly where it stopped.
`follow` is an async generator, served by service/api/log_stream.py straight on the ASGI
server: a stream holds no worker thread while it waits, and ends when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable

from service import hyphy
from service.errors import ServiceUnavailable
from service.jobdir import JobDirectory
from service.trackers.jobs import JobRecord

if TYPE_CHECKING:
    from service.jobs import JobService

#: A plain read returns at most this much of the end of a log (HyPhy logs are rarely over 1 MB).
READ_LIMIT_BYTES = 8 * 1024 * 1024
#: How often a follower looks for new output and a new job state.
FOLLOW_POLL_S = 1.0
#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0
#: A stream ends (the client reconnects with Last-Event-ID) after this long.
FOLLOW_MAX_S = 3600.0
#: Streams at once: each costs a job refresh and a file read per FOLLOW_POLL_S.
MAX_FOLLOWERS = 64
#: Streams at once for one owner (service/api/log_stream.py says who that is), so that one
#: client cannot take every stream; eight leave room for a few browser tabs per job and stream.
MAX_FOLLOWERS_PER_OWNER = 8


class TooManyOwnStreams(ServiceUnavailable):
    """429: the caller's own share of streams is taken while others may still follow. The body
    and Retry-After of the 503, with the status that tells the client the limit is its own."""

    status = 429


class Followers:
    """Streams open, in all and per owner: `enter(owner)` refuses beyond the owner's
    MAX_FOLLOWERS_PER_OWNER (429, checked first: the client holding them learns it is the one)
    or beyond MAX_FOLLOWERS (503). Only the event loop calls it: no lock."""

    def __init__(self, limit: int | None = None, per_owner: int | None = None):
        self.limit = MAX_FOLLOWERS if limit is None else limit
        self.per_owner = MAX_FOLLOWERS_PER_OWNER if per_owner is None else per_owner
        self.open = 0
        self._by_owner: Counter[str] = Counter()

    def enter(self, owner: str) -> None:
        if self._by_owner[owner] >= self.per_owner:
            raise TooManyOwnStreams(f"you have {self.per_owner} log streams open already (the most one caller "
                                    "may); close one, or read the log without follow",
                                    code="too_many_log_streams_of_yours")
        if self.open >= self.limit:
            raise ServiceUnavailable(f"{self.limit} log streams are open already; read the log without follow, "
                                     "or try again later", code="too_many_log_streams")
        self.open += 1
        self._by_owner[owner] += 1

    def leave(self, owner: str) -> None:
        self.open -= 1
        self._by_owner[owner] -= 1
        if not self._by_owner[owner]:
            del self._by_owner[owner]  # owners come and go: keep only those with a stream open


def read(job: JobRecord, stream: str, tail: int | None) -> str:
    """The cleaned log, or its last `tail` lines; "" before the job wrote any."""
    text = hyphy.clean_terminal_text(hyphy.tail(_path(job, stream), READ_LIMIT_BYTES))
    return _last_lines(text, tail) if tail is not None else text


async def follow(jobs: JobService, job: JobRecord, stream: str, tail: int | None, resume_at: int | None = None,
                 client_gone: Callable[[], bool] = lambda: False) -> AsyncIterator[str]:
    """SSE for one log until the job is final: the tail (or everything after `resume_at`, a
    Last-Event-ID), then new lines as they are written, `progress` events, and one `end` event.
    Stops early when `client_gone()`. File reads and job refreshes run in worker threads."""
    path = _path(job, stream)
    if resume_at is None:
        offset, text = await asyncio.to_thread(_complete_lines, path, 0)
        lines = hyphy.clean_terminal_text(text).split("\n")[:-1]
        for line in lines if tail is None else lines[len(lines) - tail:]:
            yield _event("log", line)
        yield f"id: {offset}\n\n"
    else:
        offset = resume_at
    progress: dict = {}
    started = last_sent = time.monotonic()
    while not client_gone():
        job = await asyncio.to_thread(jobs.refresh, job)
        offset, text = await asyncio.to_thread(_complete_lines, path, offset)
        for line in hyphy.clean_terminal_text(text).split("\n")[:-1]:
            yield _event("log", line)
        if text:
            yield f"id: {offset}\n\n"
            last_sent = time.monotonic()
        if job.progress_detail != progress:
            progress = job.progress_detail
            yield _event("progress", json.dumps(progress, sort_keys=True))
        if job.final:
            offset, text = await asyncio.to_thread(_complete_lines, path, offset, True)
            for line in hyphy.clean_terminal_text(text).split("\n"):
                if line:
                    yield _event("log", line)
            yield _event("end", json.dumps({"error_message": job.reason, "state": job.lifecycle_state,
                                            "status": job.state}))
            return
        if time.monotonic() - started > FOLLOW_MAX_S:
            yield "retry: 1000\n: the stream ends here; reconnect with Last-Event-ID to go on\n\n"
            return
        if time.monotonic() - last_sent > KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(FOLLOW_POLL_S)


def _complete_lines(path: Path, offset: int, final: bool = False) -> tuple[int, str]:
    """Text from `offset` up to the last newline (or to the end when `final`), and the new offset.

    A line still being written (or a terminal status line, which never ends) waits for its newline."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < offset:  # not this file's offset (e.g. a stale Last-Event-ID): start over
                offset = 0
            handle.seek(offset)
            data = handle.read(min(size - offset, READ_LIMIT_BYTES))
    except FileNotFoundError:
        return offset, ""
    end = len(data) if final else data.rfind(b"\n") + 1
    return offset + end, data[:end].decode("utf-8", "replace")


def _event(name: str, data: str) -> str:
    return f"event: {name}\n" + "".join(f"data: {part}\n" for part in data.split("\n")) + "\n"


def _last_lines(text: str, count: int) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[len(lines) - count:])


def _path(job: JobRecord, stream: str) -> Path:
    return JobDirectory(job.workdir).log(stream)
