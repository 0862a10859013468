"""GET /jobs, GET/PATCH/DELETE /jobs/{jobId}, and a job's cancel, retry, logs and report."""

from __future__ import annotations

from flask import Response

from service import logs, reports
from service.api import views
from service.api.common import client_cluster_credentials, identity, services
from service.errors import Conflict
from service.trackers.jobs import COMPLETED


def list_jobs(alignment_id=None, tree_id=None, method=None, status=None, since=None, limit=None,
              page_token=None, **_params):
    filters = {"alignment_id": alignment_id, "tree_id": tree_id, "method": method, "status": status}
    page = services().jobs.list(identity(), filters, since=since, limit=limit, page_token=page_token)
    body = {"jobs": [views.job_status(j) for j in page.jobs]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body, 200


def get_job(job_id: str, **_params):
    return views.job_details(services().jobs.get(identity(), job_id)), 200


def cancel_job(job_id: str, **_params):
    return views.job_details(services().jobs.cancel(identity(), job_id, client_cluster_credentials())), 200


def annotate_job(job_id: str, body: dict, **_params):
    return views.job_details(services().jobs.annotate(identity(), job_id, body)), 200


def delete_job(job_id: str, **_params):
    services().jobs.delete(identity(), job_id, client_cluster_credentials())
    return None, 204


def retry_job(job_id: str, body: dict | None = None, **_params):
    job = services().jobs.retry(identity(), job_id, body or {}, client_cluster_credentials())
    return views.job_details(job), 201


def get_job_logs(job_id: str, stream: str = "stdout", tail: int | None = None, **_params):
    """The plain read; `follow=true` never gets here (service/api/middleware/log_follow.py streams it)."""
    job = services().jobs.get(identity(), job_id)
    return Response(logs.read(job, stream, tail), mimetype="text/plain",
                    headers={"X-Job-Status": job.state, "Cache-Control": "no-store"})


def get_job_report(job_id: str, **_params):
    job_service = services().jobs
    job = job_service.get(identity(), job_id)
    if job.state != COMPLETED:
        raise Conflict(f"the job is {job.state}: a report exists once it has completed")
    html = reports.render(job.method, views.job_details(job), job_service.result(job))
    return Response(html, mimetype="text/html", headers={"Cache-Control": "private, max-age=3600"})
