"""GET /jobs: one owner's jobs, newest first, filtered, a page at a time behind an opaque cursor.

The tracker's per-owner index (service/trackers/jobs.py) gives the order, the cursor position,
and the state and finish time of final jobs, so a page reads about `limit` records whatever the
number of jobs the owner has (the shared anonymous owner has most of them). Jobs not yet final
are brought up to date through the job service's `refresh` (one scheduler call per page).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import heapq
import json
from datetime import datetime
from itertools import islice
from typing import Callable, Iterator, Mapping

from service.errors import FieldError, InvalidRequest
from service.trackers.jobs import FINAL_STATES, FileJobTracker, JobRecord, parse_time

#: The largest page GET /jobs returns (`limit`).
MAX_PAGE_SIZE = 1000


@dataclasses.dataclass
class JobPage:
    """One page of a job listing; `next_page_token` is None on the last page."""

    jobs: list[JobRecord]
    next_page_token: str | None = None


def _page_key(job) -> tuple[str, str]:
    """The listing order (newest first: reversed) of a JobRecord or an index entry."""
    return job.created, job.job_id


def encode_page_token(last: JobRecord) -> str:
    """Opaque to clients: base64url JSON of the last (created, job_id) a page returned."""
    raw = json.dumps({"created": last.created, "job_id": last.job_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[str, str]:
    """The (created, job_id) a page token continues after; FieldError("page_token") if it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, job_id = data["created"], data["job_id"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        data = created = job_id = None
    if not (isinstance(data, dict) and isinstance(created, str) and isinstance(job_id, str)
            and job_id.isalnum() and len(job_id) <= 64 and parse_time(created) is not None):
        raise FieldError("page_token", "not a page token this service issued: pass next_page_token unchanged")
    return created, job_id


def _parse_time(value: str, field: str = "") -> datetime:
    """An RFC 3339 date-time (service.trackers.jobs.parse_time) → an aware datetime; FieldError(field) if not one."""
    parsed = parse_time(value)
    if parsed is None:
        raise FieldError(field, f"{value!r} is not a date-time such as 2025-01-31T12:00:00Z")
    return parsed


def _finished_since(job: JobRecord, since: datetime) -> bool:
    finished = parse_time(job.finished)
    return finished is not None and finished >= since


class JobListing:
    """Pages of one owner's jobs from `tracker`; `refresh` brings a list of jobs up to date (one
    scheduler call; jobs deleted meanwhile are left out: JobService.refresh_many)."""

    def __init__(self, tracker: FileJobTracker, refresh: Callable[[list[JobRecord]], list[JobRecord]]):
        self.tracker = tracker
        self.refresh = refresh

    def page(self, owner: str, filters: Mapping[str, str | None], *, since: str | None = None,
             limit: int | None = None, page_token: str | None = None) -> JobPage:
        """`owner`'s jobs, newest first (`created`, ties by job id), filtered, one page at a time.

        `since` keeps jobs finished at or after that time; `limit` (1–1000, default all) sizes the
        page and `page_token` (from the previous page's `next_page_token`) continues after the
        last job that page returned, so jobs started meanwhile never shift or repeat a page.
        Only the jobs a page needs are refreshed from the scheduler, unless the answer depends
        on state (`status`, `since`): then every non-final candidate after the cursor is.
        """
        errors: list[FieldError] = []
        after: tuple[str, str] | None = None
        since_at: datetime | None = None
        try:
            after = decode_page_token(page_token) if page_token else None
        except FieldError as exc:
            errors.append(exc)
        try:
            since_at = _parse_time(since, "since") if since else None
        except FieldError as exc:
            errors.append(exc)
        if limit is not None and not 1 <= limit <= MAX_PAGE_SIZE:
            errors.append(FieldError("limit", f"must be between 1 and {MAX_PAGE_SIZE}"))
        if errors:
            raise InvalidRequest(errors)
        wanted = {k: v for k, v in filters.items() if v}
        status = wanted.get("status")

        def candidate(j: JobRecord) -> bool:
            return (j.datasets.get("alignment") == wanted.get("alignment_id", j.datasets.get("alignment"))
                    and j.datasets.get("tree") == wanted.get("tree_id", j.datasets.get("tree"))
                    and j.method == wanted.get("method", j.method)
                    and (after is None or _page_key(j) < after))

        def records(entries) -> Iterator[JobRecord]:
            """The candidates among indexed jobs, in the entries' order, each record read when reached."""
            for entry in entries:
                if entry.method == wanted.get("method", entry.method):
                    job = self.tracker.get(entry.job_id)
                    if job is not None and candidate(job):  # None: deleted meanwhile
                        yield job

        if status is None and since_at is None:
            # Nothing here depends on state: refresh only the page (one scheduler call).
            found = list(islice(records(self.tracker.owner_jobs(owner, after)), None if limit is None else limit + 1))
            page = found[:limit]
            more = len(found) > len(page)
            page = self.refresh(page)
        else:
            # Only a job not yet final can change state: those are refreshed (one scheduler
            # call), the final ones are taken as the index has them, both merged newest first.
            fresh = self.refresh(sorted(filter(candidate, self.tracker.owner_active(owner)),
                                        key=_page_key, reverse=True))
            refreshed = {j.job_id for j in fresh}
            if status is not None and status not in FINAL_STATES:
                final = []  # a final job never becomes queued or running again
            elif since_at is not None:
                final = sorted((e for e in self.tracker.owner_finished_since(owner, since_at)
                                if after is None or e.page_key < after), key=_page_key, reverse=True)
            else:
                final = (e for e in self.tracker.owner_jobs(owner, after) if e.final)
            final = (e for e in final if e.job_id not in refreshed and e.status == (status or e.status))
            selected = (j for j in heapq.merge(fresh, records(final), key=_page_key, reverse=True)
                        if j.state == (status or j.state) and (since_at is None or _finished_since(j, since_at)))
            found = list(islice(selected, None if limit is None else limit + 1))
            page = found[:limit]
            more = len(found) > len(page)
        return JobPage(page, encode_page_token(page[-1]) if more else None)

