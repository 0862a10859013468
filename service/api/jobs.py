"""GET /jobs, GET /jobs/{jobId}, DELETE /jobs/{jobId}."""

from __future__ import annotations

from service.api import views
from service.api.common import client_cluster_credentials, identity, services


def list_jobs(alignment_id=None, tree_id=None, method=None, status=None, **_params):
    filters = {"alignment_id": alignment_id, "tree_id": tree_id, "method": method, "status": status}
    jobs = services().jobs.list(identity(), filters)
    return {"jobs": [views.job_status(j) for j in jobs]}, 200


def get_job(job_id: str, **_params):
    return views.job_status(services().jobs.get(identity(), job_id)), 200


def delete_job(job_id: str, **_params):
    services().jobs.delete(identity(), job_id, client_cluster_credentials())
    return None, 204
