"""GET /methods and the generic start/result handlers every HyPhy method shares."""

from __future__ import annotations

from typing import Any

from service.api import views
from service.api.common import client_cluster_credentials, identity, services, warning_headers
from service.errors import DatasetsNotFound
from service.methods import METHODS
from service.methods.registry import get_method
from service.trackers.jobs import COMPLETED, JobRecord


def list_methods(**_params):
    listed = []
    for method in METHODS.values():
        if not method.available:
            continue
        parameters = [
            {"name": name, "description": f"Dataset id of the {name}", "required": name == "alignment", "type": "string"}
            for name in ("alignment", "tree") if name == "alignment" or method.tree != "none"
        ] + [
            {"name": o.name, "description": o.description, "required": o.required, "type": o.type_name,
             **({"default": _as_text(o.default)} if o.default is not None else {})}
            for o in method.options
        ]
        listed.append({
            "id": method.id, "name": method.name, "description": method.description, "status": method.status,
            "start_endpoint": f"/api/v1/methods/{method.id}-start",
            "result_endpoint": f"/api/v1/methods/{method.id}-result",
            "parameters": parameters,
        })
    return {"methods": listed}, 200


def start(method_id: str, body: dict[str, Any], **_params):
    try:
        job = services().jobs.start(identity(body.get("user_token")), method_id, body, client_cluster_credentials())
    except DatasetsNotFound as exc:
        # v1.0.0 declares only 422 here (v1.2.0 both), so every client understands it; POST
        # *-result keeps the 404, the only fitting status v1.2.0 declares there (v1.0.0 none)
        raise exc.as_invalid_request() from None
    return views.job_status(job), 200, warning_headers(get_method(method_id).ignored_fields(body))


def result_for_request(method_id: str, body: dict[str, Any], **_params):
    body_out, status = _result(services().jobs.find(identity(body.get("user_token")), method_id, body))
    return body_out, status, warning_headers(get_method(method_id).ignored_fields(body))


def result_by_id(method_id: str, job_id: str, **_params):
    return _result(services().jobs.get(identity(), job_id, method_id))


def _result(job: JobRecord):
    """HyPhy's JSON under `result` when completed; otherwise the job's status (and reason)."""
    body = views.job_status(job)
    if job.state == COMPLETED:
        body["result"] = services().jobs.result(job)
    return body, 200


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)
