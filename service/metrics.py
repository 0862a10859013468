"""Prometheus metrics: every metric definition and helper in one place (served by GET /metrics).

Metrics (aggregates only: no job ids, owners, tokens, paths or raw URLs in any label):

    datamonkey_jobs{method, state}                    gauge: jobs in the job tracker; `state` is
        queued / running / completed / error / cancelled, as GET /jobs/{id} reports it; read from
        the tracker's counters (index/counts.json), so a scrape costs the same at any job count
    datamonkey_http_request_duration_seconds{operation, status_class}
                                                      histogram: each HTTP request, labelled by
        its Connexion operationId ("unmatched" when no operation took it) and 2xx…5xx
    datamonkey_slurmrestd_calls_total{method, endpoint, outcome}
                                                      counter: every HTTP call to slurmrestd
        (an authentication retry is a second call); outcome ok / http_error / unauthorized /
        unreachable; endpoint is the path template (jobs, job/{id}, job/submit, ping, other)
    datamonkey_slurmrestd_errors_total{method, endpoint, outcome}
                                                      counter: the calls whose outcome is not ok
    datamonkey_slurm_token_refreshes_total{outcome}   counter: Slurm JWTs minted (the first one
        and every refresh, scheduled or forced), outcome ok / error
plus prometheus_client's standard process_*, python_gc_* and python_info.

Registration: why calling `create_app()` again and again in one process (the unit tests build
hundreds of apps) never raises "Duplicated timeseries":

- the counters that code deep in the Slurm scheduler increments (slurmrestd calls and errors,
  token refreshes) are process-wide: module-level objects created once, at import, with
  `registry=None`, so they are never put in prometheus_client's global REGISTRY;
- every app gets its own `CollectorRegistry` (`AppMetrics`, stored in
  `flask_app.extensions["datamonkey_metrics"]` and served by GET /metrics). A fresh registry
  holds no names yet, so each app registers the shared counters and the standard collectors
  again without a clash, plus what belongs to that app alone: its request latency histogram
  (fed by its `RequestMetricsMiddleware`) and its `JobsCollector` (over its own job tracker).
  Two apps in one process never mix their jobs or requests, and a discarded app's registry goes
  with it (nothing accumulates in a global registry).
"""

from __future__ import annotations

import gc
import logging
import platform
from collections.abc import Iterable
from typing import Any, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from service.schedulers.slurm_rest import metrics as slurm_metrics

log = logging.getLogger(__name__)

#: Key of an app's AppMetrics in `flask_app.extensions`.
EXTENSION = "datamonkey_metrics"
#: Prometheus' default scrape path, served besides `<api base>/metrics`.
ROOT_PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The operation label of a request no API operation took (404, 405, Swagger UI, spec files…).
UNMATCHED = "unmatched"
JOB_STATES = ("queued", "running", "completed", "error", "cancelled")
#: Request latency buckets (seconds): uploads and long result reads reach tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: prometheus_client's standard collectors, made once (GCCollector insists on registering
#: somewhere: a throwaway registry; it only exists on CPython).
_STANDARD: tuple[Collector, ...] = (ProcessCollector(registry=None), PlatformCollector(registry=None)) + (
    (GCCollector(registry=CollectorRegistry()),)
    if hasattr(gc, "get_stats") and platform.python_implementation() == "CPython" else ())
_SHARED: tuple[Collector, ...] = slurm_metrics.COLLECTORS + _STANDARD


def status_class(status: int | None) -> str:
    """"2xx" … "5xx"; no response at all (the app raised) counts as 5xx."""
    if status is None or not 100 <= status <= 599:
        return "5xx"
    return f"{status // 100}xx"


# -- jobs ---------------------------------------------------------------------------------------
class JobsCollector(Collector):
    """`datamonkey_jobs{method, state}` over one app's job tracker, from its counters.

    FileJobTracker keeps a count per method × lifecycle state as it writes records, so a scrape
    reads one small file: no walk over the final records, whatever the number of jobs. The jobs
    not yet final (the only ones whose state can change) are first brought up to date with
    `refresh_active` (one scheduler call over the tracker's active set): the gauge follows jobs
    nobody polls, at a cost that grows with the running jobs, not all. Every known method × state is reported,
    zeros included, so series do not appear and vanish; methods the registry no longer knows
    count as "other". Counters that cannot be read are logged and the last counts served (or
    none yet): a scrape must not fail because the job store cannot be read.
    """

    def __init__(self, tracker: Any, refresh_active: Callable[[], Any] | None = None):
        self.tracker = tracker
        self.refresh_active = refresh_active
        self._last: dict[tuple[str, str], int] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family({})]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return [self._family(self.counts() or {})]

    def counts(self) -> dict[tuple[str, str], int] | None:
        """{(method, state): jobs}, or the last counts when the tracker's cannot be read."""
        from service.methods import METHODS  # lazily: the registry is not needed to count HTTP calls

        if self.refresh_active is not None:
            try:
                self.refresh_active()
            except Exception:  # stored states are still worth counting
                log.warning("cannot refresh the active jobs for the metrics; counting stored states", exc_info=True)
        try:
            stored = self.tracker.counts()
        except Exception:
            log.warning("cannot read the job counts for the metrics", exc_info=True)
            return self._last
        counts = {(method, state): 0 for method in METHODS for state in JOB_STATES}
        for (method, state), jobs in stored.items():
            key = (method if method in METHODS else "other", state)
            counts[key] = counts.get(key, 0) + jobs
        self._last = counts
        return counts

    @staticmethod
    def _family(counts: dict[tuple[str, str], int]) -> GaugeMetricFamily:
        family = GaugeMetricFamily("datamonkey_jobs", "Jobs in the job tracker by method and state "
                                   "(cancelled: stopped by POST /jobs/{id}/cancel)", labels=["method", "state"])
        for (method, state), value in sorted(counts.items()):
            family.add_metric([method, state], value)
        return family


# -- one app's registry -------------------------------------------------------------------------
class AppMetrics:
    """One app's CollectorRegistry: its jobs gauge and request histogram + the shared metrics."""

    def __init__(self, tracker: Any, refresh_active: Callable[[], Any] | None = None):
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "datamonkey_http_request_duration_seconds",
            "HTTP request latency (until the response ends) by operationId and status class",
            ["operation", "status_class"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.jobs = JobsCollector(tracker, refresh_active)
        self.registry.register(self.jobs)
        for collector in _SHARED:
            self.registry.register(collector)

    def observe_request(self, operation: str | None, status: int | None, seconds: float) -> None:
        self.requests.labels(operation or UNMATCHED, status_class(status)).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
