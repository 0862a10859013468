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
