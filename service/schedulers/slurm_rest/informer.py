"""Informer-style job cache (as in Slinky's slurm-client): one poller, many readers.

One background thread lists `GET {api}/jobs?update_time=<last>` every SLURM_POLL_SECS; request
handlers only read the cache, so however many clients poll, slurmrestd sees at most one listing
per interval. A changed table comes back whole (slurmctld sends every job, not a delta). An
unchanged one is "no change", which the cache keeps as it is: 22.05 answers a 304 with an empty
body; 23.02+ (v0.0.39-v0.0.41) answer a 200 with an empty `jobs` list and the warning
"No job changes since update_time…", which is never read as an empty table. An empty answer
without that warning (22.05 after a controller state reset) is checked at once by a full listing.
The next `update_time` is the controller's own `last_update` when the version reports it (no
clock skew between us and slurmctld), else our request time minus a margin. Every
`FULL_RELIST_EVERY` polls the table is listed without `update_time`, as a safety net.
State changes are emitted as (old, new) events to registered handlers (logging, trackers).

`synced_at` is the wall-clock time at which the last *successful* listing was requested: a job
submitted after it may legitimately be missing from the cache, so only a listing requested after
a job's submission can prove that Slurm no longer knows it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from service.schedulers.base import SchedulerUnavailable
from service.schedulers.slurm_rest.adapters.base import SlurmJob
from service.schedulers.slurm_rest.client import SlurmRestClient, SlurmRestError

log = logging.getLogger(__name__)

#: Passed to `update_time` this many seconds before our last listing: Slurm compares whole
#: seconds (`last_update - 1 >= last_job_update` → 304), and the controller's clock may differ.
UPDATE_TIME_MARGIN_S = 2
FULL_RELIST_EVERY = 12

Handler = Callable[["SlurmJob | None", "SlurmJob | None"], None]


class JobInformer:
    def __init__(self, client: SlurmRestClient, interval_s: float, name_prefix: str = "datamonkey-",
                 clock: Callable[[], float] = time.time):
        self.client = client
        self.interval_s = interval_s
        self.name_prefix = name_prefix
        self._clock = clock
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # one listing at a time (the poller, recover())
        self._jobs: dict[int, SlurmJob] = {}
        self._handlers: list[Handler] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._polls = 0
        #: The `update_time` of the next differential listing (None: list the whole table).
        self._update_time: int | None = None
        #: Wall time the last successful listing was *requested* (None: never synced).
        self.synced_at: float | None = None
        self.last_error: str = ""
        self.listings = 0
        self.not_modified = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="slurm-informer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.client.timeout[1] + 5 if isinstance(self.client.timeout, tuple) else 35)
            self._thread = None

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval_s)

    # -- one poll ----------------------------------------------------------------------------
    def poll_once(self) -> bool:
        """List the job table once; True when the cache is now in sync with slurmrestd."""
        with self._poll_lock:
            return self._poll()

    def _poll(self, full: bool = False) -> bool:
        requested_at = self._clock()
        full = full or self._update_time is None or self._polls % FULL_RELIST_EVERY == 0
        self._polls += 1
        try:
            adapter = self.client.adapter
            params = {} if full else {"update_time": adapter.update_time_param(self._update_time, requested_at)}
            response = self.client.request("GET", adapter.jobs_path, params=params, expect=(200, 304))
        except (SchedulerUnavailable, SlurmRestError) as exc:
            if self.last_error != str(exc):
                log.warning("slurm job listing failed; serving cached state", extra={"error": str(exc)})
            self.last_error = str(exc)
            return False
        self.listings += 1
        body = (self.client.json(response) or {}) if response.status_code == 200 else {}
        jobs = adapter.parse_jobs(body)
        if not full and not jobs and response.status_code == 200 and not _says_no_change(body):
            # An empty table without Slurm's "no change" warning (22.05 after a controller state
            # reset): only a full listing can tell what Slurm still has.
            return self._poll(full=True)
        if response.status_code == 304 or (not full and not jobs):
            self.not_modified += 1
        else:
            self._replace({j.job_id: j for j in jobs if j.name.startswith(self.name_prefix)})
            self._update_time = adapter.parse_last_update(body) or int(requested_at) - UPDATE_TIME_MARGIN_S
        with self._lock:
            self.synced_at = requested_at
        self.last_error = ""
        return True

    def _replace(self, fresh: dict[int, SlurmJob]) -> None:
        with self._lock:
            old, self._jobs = self._jobs, fresh
        if not self._handlers:
            return
        for job_id in old.keys() | fresh.keys():
            before, after = old.get(job_id), fresh.get(job_id)
            if before != after and (before is None or after is None or before.state != after.state):
                for handler in self._handlers:
                    try:
                        handler(before, after)
                    except Exception:  # a handler must never stop the poller
                        log.exception("slurm informer handler failed")

    # -- reads -------------------------------------------------------------------------------
    def get(self, slurm_id: int) -> SlurmJob | None:
        with self._lock:
            return self._jobs.get(slurm_id)

    def find_by_name(self, name: str) -> SlurmJob | None:
        with self._lock:
            matches = [j for j in self._jobs.values() if j.name == name]
        return max(matches, key=lambda j: j.submit_time or 0) if matches else None

    def put(self, job: SlurmJob) -> None:
        """Read-your-writes: record a job just read directly (e.g. right after submitting it)."""
        with self._lock:
            self._jobs[job.job_id] = job


def _says_no_change(body: dict) -> bool:
    """Slurm 23.02+'s answer to an update_time listing of an unchanged table: 200, no jobs, and the
    warning "No job changes since update_time…" (src/plugins/openapi/slurmctld/jobs.c)."""
    warnings = body.get("warnings") if isinstance(body, dict) else None
    return any(isinstance(w, dict) and str(w.get("description", "")).startswith("No job changes since update_time")
               for w in warnings or [])
