"""The Slurm back end's process-wide Prometheus counters (service/metrics.py registers them in
every app's registry and documents them): slurmrestd calls and errors, Slurm JWTs minted.

Module-level, created once with `registry=None`: code deep in the client and the token manager
increments them without knowing any app (service/metrics.py says why that matters).
"""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client.registry import Collector

#: slurmrestd endpoints by path template (`/job/6` → "job/{id}"); any other path is "other".
SLURM_ENDPOINTS = frozenset({"jobs", "job/{id}", "job/submit", "ping"})
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
SLURM_OUTCOMES = ("ok", "http_error", "unauthorized", "unreachable")

SLURMRESTD_CALLS = Counter(
    "datamonkey_slurmrestd_calls", "HTTP calls to slurmrestd, by method, endpoint template and outcome",
    ["method", "endpoint", "outcome"], registry=None)
SLURMRESTD_ERRORS = Counter(
    "datamonkey_slurmrestd_errors", "slurmrestd calls that failed (outcome http_error, unauthorized or unreachable)",
    ["method", "endpoint", "outcome"], registry=None)
TOKEN_REFRESHES = Counter(
    "datamonkey_slurm_token_refreshes", "Slurm JWTs minted (first token and every refresh), by outcome",
    ["outcome"], registry=None)
for _outcome in ("ok", "error"):
    TOKEN_REFRESHES.labels(_outcome)  # both series exist from the start (rate() needs a zero)
#: What every app's registry registers from here.
COLLECTORS: tuple[Collector, ...] = (SLURMRESTD_CALLS, SLURMRESTD_ERRORS, TOKEN_REFRESHES)


def slurm_endpoint(path: str) -> str:
    """The bounded endpoint label of a slurmrestd path: numeric segments become `{id}`."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    template = "/".join("{id}" if segment.isdigit() else segment for segment in segments)
    return template if template in SLURM_ENDPOINTS else "other"


def count_slurmrestd_call(method: str, path: str, outcome: str) -> None:
    """One HTTP call to slurmrestd at `path` (raw: ids are folded into the endpoint template)."""
    method = method.upper() if method.upper() in HTTP_METHODS else "OTHER"
    outcome = outcome if outcome in SLURM_OUTCOMES else "http_error"
    endpoint = slurm_endpoint(path)
    SLURMRESTD_CALLS.labels(method, endpoint, outcome).inc()
    if outcome != "ok":
        SLURMRESTD_ERRORS.labels(method, endpoint, outcome).inc()


def count_token_refresh(ok: bool) -> None:
    TOKEN_REFRESHES.labels("ok" if ok else "error").inc()
