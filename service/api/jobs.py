"""GET /jobs, GET/PATCH/DELETE /jobs/{jobId}, POST /jobs/{jobId}/cancel."""

from __future__ import annotations

from service.api import views
from service.api.common import client_cluster_credentials, identity, services


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
