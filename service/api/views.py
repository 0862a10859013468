"""JSON views of records: upstream's field names, plus our additions (never renames)."""

from __future__ import annotations

from typing import Any

from service.trackers.datasets import DatasetRecord
from service.trackers.jobs import ERROR, JobRecord


def job_status(job: JobRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": job.job_id,
        "status": job.state,
        "method": job.method,
        "created": job.created,
        "updated": job.updated,
    }
    for role in ("alignment", "tree"):
        if job.datasets.get(role):
            body[f"{role}_id"] = job.datasets[role]
    if job.state == ERROR:
        body["error_message"] = job.reason
    if job.progress:
        body["progress"] = job.progress
    if job.progress_detail:
        body["progress_detail"] = job.progress_detail
    if job.cluster_user:
        body["cluster_user"] = job.cluster_user
    for name in ("started", "finished"):
        if getattr(job, name):
            body[name] = getattr(job, name)
    return body


def dataset(record: DatasetRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "type": record.type,
        "created": record.created,
        "updated": record.updated,
        "size": record.size,
        "format": record.format,
        "alphabet": record.alphabet or "unknown",
    }


def job_details(job: JobRecord) -> dict[str, Any]:
    """GET /jobs/{id}: upstream's JobStatus plus the whole record, minus what is private.

    Never here: `owner` and `request_key` (they identify the user and the request), file system
    paths (`workdir`) and `scheduler_info` (back-end internals, which may hold paths)."""
    body = job_status(job)
    body.update({
        "state": job.lifecycle_state,
        "reason": job.reason,
        "progress": job.progress,
        "options": job.options,
        "datasets": {role: ds_id for role, ds_id in job.datasets.items() if ds_id},
        "scheduler": job.scheduler,
        "native_id": job.native_id,
        "resources": {name: job.resources[name] for name in ("cpus", "memory_mb", "time_limit_min")
                      if name in job.resources},
        "annotations": job.annotations,
        "attempts": len(job.previous_job_ids) + 1,
        "previous_job_ids": job.previous_job_ids,
        **({"retried_as": job.retried_as} if job.retried_as else {}),
    })
    return body
