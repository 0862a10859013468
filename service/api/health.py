"""GET /health: each component's state; 503 when any is unhealthy."""

from __future__ import annotations

import os

from service.api.common import services


def get_health(**_params):
    wired = services()
    settings = wired.settings
    storage_ok = all(
        os.access(path, os.W_OK)
        for path in (settings.DATASET_LOCATION, settings.JOB_TRACKER_LOCATION, settings.JOB_WORK_LOCATION)
    )
    scheduler = wired.scheduler.health()
    details = {
        "datamonkey": "healthy",
        "job_scheduler": scheduler,
        "slurm": scheduler if settings.SCHEDULER_TYPE.startswith("Slurm") else "unknown",
        "database": "healthy" if storage_ok else "unhealthy",
    }
    healthy = storage_ok and scheduler != "unhealthy"
    body = {"status": "healthy" if healthy else "unhealthy", "details": details, "scheduler": settings.SCHEDULER_TYPE}
    return body, 200 if healthy else 503
