"""GET /health (public): each component's state, with the reason when one is unhealthy; 503 then.

`details` keeps upstream's keys (v1.0.0 `slurm`, `datamonkey`; v1.2.0 `job_scheduler`,
`database`) and adds the scheduler's own components (slurmrestd, slurmctld, slurm_token,
job_listing) and the stores (job_tracker, dataset_tracker, job_work).

/health is public, so `reasons` name what is wrong and no more (no paths, URLs or slurmrestd
bodies); each component's `detail` is logged instead, once when its state changes.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from typing import Mapping

from flask import current_app

from service.api.common import services
from service.schedulers.base import HEALTHY, UNHEALTHY, UNKNOWN, ComponentHealth

log = logging.getLogger(__name__)
#: Below this much free space a store counts as full.
MIN_FREE_BYTES = 1024 * 1024
#: The app's HealthChanges, in flask_app.extensions.
CHANGES = "datamonkey.health_changes"


def get_health(**_params):
    wired = services()
    settings = wired.settings
    stores = {
        name: _store_health(variable, path)
        for name, variable, path in (
            ("dataset_tracker", "DATASET_LOCATION", settings.DATASET_LOCATION),
            ("job_tracker", "JOB_TRACKER_LOCATION", settings.JOB_TRACKER_LOCATION),
            ("job_work", "JOB_WORK_LOCATION", settings.JOB_WORK_LOCATION),
        )
    }
    try:
        backend = wired.scheduler.health()
    except Exception as exc:  # /health answers with its own shape (Health), never a ServerError 500
        log.exception("scheduler health check failed")
        reason = f"the scheduler's health check failed: {type(exc).__name__}"
        backend = {"job_scheduler": ComponentHealth(UNHEALTHY, reason)}
    # a scheduler may check a store too (SlurmRestScheduler: the job user reaches job_work): the worse wins
    checks = {**backend, **{name: max(check, backend.get(name, check), key=_badness) for name, check in stores.items()}}
    current_app.extensions.setdefault(CHANGES, HealthChanges()).log(checks)
    scheduler = _worst(backend.values())
    details = {
        "datamonkey": HEALTHY,
        "job_scheduler": scheduler,
        "slurm": scheduler if settings.SCHEDULER_TYPE.startswith("Slurm") else UNKNOWN,
        "database": _worst(stores.values()),
        **{name: check.status for name, check in checks.items()},
    }
    reasons = {name: check.reason for name, check in checks.items() if check.status == UNHEALTHY and check.reason}
    healthy = UNHEALTHY not in details.values()
    body = {"status": HEALTHY if healthy else UNHEALTHY, "details": details, "scheduler": settings.SCHEDULER_TYPE}
    if reasons:
        body["reasons"] = reasons
    backend = wired.scheduler.describe()
    if backend:
        body["backend"] = backend
    return body, 200 if healthy else 503


def _store_health(variable: str, path) -> ComponentHealth:
    """Writable, and not (nearly) full: writes there would be refused with 503."""
    if not os.access(path, os.W_OK):
        return ComponentHealth(UNHEALTHY, f"{variable} is missing or not writable", f"{variable}={path}")
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        return ComponentHealth(UNHEALTHY, f"{variable} is full", f"{variable}={path}: {free // 1024} KiB free")
    return ComponentHealth(HEALTHY)


def _badness(check: ComponentHealth) -> int:
    return (HEALTHY, UNKNOWN, UNHEALTHY).index(check.status)


def _worst(checks) -> str:
    statuses = {check.status for check in checks}
    return UNHEALTHY if UNHEALTHY in statuses else UNKNOWN if UNKNOWN in statuses else HEALTHY


class HealthChanges:
    """Logs a component's state, reason and detail when they change. Load balancers poll /health
    every few seconds: a line per request would bury the one that says when something broke (or
    recovered). A component counts as healthy until it is seen otherwise."""

    def __init__(self):
        self._lock = threading.Lock()  # /health runs on several worker threads at once
        self._seen: dict[str, tuple[str, str]] = {}

    def log(self, checks: Mapping[str, ComponentHealth]) -> None:
        with self._lock:
            changed = {name: check for name, check in checks.items()
                       if self._seen.get(name, (HEALTHY, "")) != (check.status, check.reason)}
            self._seen.update({name: (check.status, check.reason) for name, check in changed.items()})
        for name, check in changed.items():
            log.log(logging.WARNING if check.status == UNHEALTHY else logging.INFO, "health changed",
                    extra={"component": name, "status": check.status, "reason": check.reason,
                           "detail": check.detail})
