"""Stale-while-revalidate for a slow health probe (e.g. the Slurm scheduler's slurmrestd ping).

GET /health is public and polled by load balancers, and the API runs it on one of the WSGI
bridge's ten worker threads. A probe that waits out its timeout (slurmrestd takes seconds to give
up on a down slurmctld) must therefore never run on those threads, nor make them queue for a lock
while it runs: callers get the last answer at once, and one background thread refreshes it once
it is older than `max_age_s` (never more than one refresh in flight, so /health does not fan out
to the backend however often it is called). An answer's age counts from when it arrived, so a
probe that took its whole timeout is not stale the moment it is cached.

Only the first call after start-up, when there is no answer yet, waits for the refresh, at most
`first_wait_s`; after that it gets None ("no answer yet").
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class HealthCache(Generic[T]):
    def __init__(self, probe: Callable[[], T], *, max_age_s: float, first_wait_s: float, name: str,
                 clock: Callable[[], float] = time.monotonic):
        self._probe = probe
        self.max_age_s = max_age_s
        self.first_wait_s = first_wait_s
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()  # guards the fields below; never held while the probe runs
        self._answer: T | None = None
        self._answered_at: float | None = None
        self._idle = threading.Event()
        self._idle.set()

    def get(self) -> T | None:
        """The last answer (starting a refresh when it is stale); None while there is none."""
        with self._lock:
            stale = self._answered_at is None or self._clock() - self._answered_at >= self.max_age_s
            if stale and self._idle.is_set():
                self._idle.clear()
                threading.Thread(target=self._refresh, name=f"refresh {self.name}", daemon=True).start()
            first = self._answered_at is None
        if first:
            self.wait(self.first_wait_s)
        with self._lock:
            return self._answer

    def wait(self, timeout: float | None = None) -> bool:
        """Until no refresh is in flight (False when `timeout` ran out first)."""
        return self._idle.wait(timeout)

    def _refresh(self) -> None:
        try:
            answer = self._probe()
        except Exception:  # a bug in the probe: answer "none" (logged once per refresh), not the last state
            log.exception("health probe failed", extra={"probe": self.name})
            answer = None
        with self._lock:
            self._answer, self._answered_at = answer, self._clock()
            self._idle.set()
