"""GET /methods and the generic start/result handlers every HyPhy method shares."""

from __future__ import annotations

from typing import Any

from service.api import views
from service.api.common import client_cluster_credentials, identity, services, warning_headers
from service.errors import DatasetsNotFound
from service.methods.options import NotInHyPhy
from service.trackers.jobs import COMPLETED, JobRecord


def list_methods(**_params):
    """Upstream's list of runnable methods, as the HyPhy that runs the jobs can run them.

    Additive fields (upstream clients ignore them): per parameter `available` (false: only the
    default is accepted, `unavailable_reason` says why), per method `hyphy_analysis`, and
    `hyphy`: the scheduler, HyPhy version, where that came from, and the methods not offered."""
    catalog = services().methods
    capabilities = catalog.capabilities
    listed, unavailable = [], []
    for method in catalog.methods().values():
        if not method.available:
            unavailable.append({"id": method.id, "name": method.name, "reason": method.unavailable_reason})
            continue
        parameters = [
            {"name": name, "description": f"Dataset id of the {name}", "required": name == "alignment", "type": "string",
             "available": True}
            for name in ("alignment", "tree") if name == "alignment" or method.tree != "none"
        ] + [_parameter(o) for o in method.options]
        listed.append({
            "id": method.id, "name": method.name, "description": method.description, "status": method.status,
            "start_endpoint": f"/api/v1/methods/{method.id}-start",
            "result_endpoint": f"/api/v1/methods/{method.id}-result",
            "parameters": parameters,
            "hyphy_analysis": method.hyphy_name,
        })
    hyphy = {"scheduler": services().scheduler.name, "version": capabilities.version, "source": capabilities.source,
             **{k: v for k, v in capabilities.details.items() if k in ("collected", "host", "note")},
             "unavailable_methods": unavailable}
    return {"methods": listed, "hyphy": hyphy}, 200


def _parameter(option) -> dict[str, Any]:
    missing = isinstance(option, NotInHyPhy)
    return {"name": option.name, "description": option.description, "required": option.required,
            "type": option.type_name, **({"default": _as_text(option.default)} if option.default is not None else {}),
            "available": not missing, **({"unavailable_reason": f"only the default is accepted: {option.reason}"}
                                         if missing else {})}


def start(method_id: str, body: dict[str, Any], **_params):
    try:
        job = services().jobs.start(identity(body.get("user_token")), method_id, body, client_cluster_credentials())
    except DatasetsNotFound as exc:
        # v1.0.0 declares only 422 here (v1.2.0 both), so every client understands it; POST
        # *-result keeps the 404, the only fitting status v1.2.0 declares there (v1.0.0 none)
        raise exc.as_invalid_request() from None
    return views.job_status(job), 200, warning_headers(services().methods.get(method_id).ignored_fields(body))


def result_for_request(method_id: str, body: dict[str, Any], **_params):
    body_out, status = _result(services().jobs.find(identity(body.get("user_token")), method_id, body))
    return body_out, status, warning_headers(services().methods.get(method_id).ignored_fields(body))


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
