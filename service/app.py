"""Application factory: a Connexion (Flask flavour) app routed and validated from openapi.yaml.

`create_app(overrides)` builds everything from settings (environment + overrides, Flask-style
test config), wires the services into `flask_app.extensions["datamonkey"]` and maps every
error, Connexion's own included, onto upstream api-datamonkey's JSON shapes.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import connexion
import yaml
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionResponse
from connexion.middleware import MiddlewarePosition
from flask import Flask, request
from starlette.exceptions import HTTPException as StarletteHTTPException
from werkzeug.exceptions import HTTPException

from service import hyphy, metrics
from service.api import operation_table
from service.api.log_stream import LogFollowMiddleware
from service.config import Settings
from service.datasets.service import DatasetService
from service.errors import ApiError, ClientError, FieldError, InvalidRequest, NotFound, ServiceUnavailable, Unauthorized
from service.identity import Sessions, load_api_tokens
from service.jobs import JobService
from service.limits import BodyLimitMiddleware
from service.methods.capabilities import MethodCatalog, provider_for
from service.observability import RequestIdMiddleware, configure_logging, current_request_id
from service.schedulers import build_scheduler
from service.schedulers.base import CredentialsRefused, Scheduler, SchedulerError, SchedulerUnavailable
from service.trackers.datasets import FileDatasetTracker
from service.trackers.jobs import FileJobTracker
from service.validation import VALIDATORS

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    sessions: Sessions
    datasets: DatasetService
    jobs: JobService
    scheduler: Scheduler
    #: The method registry as the HyPhy that runs the jobs can run it (GET /methods, validation).
    methods: MethodCatalog


def create_app(overrides: Mapping[str, Any] | None = None, *, validate_responses: bool = False) -> connexion.FlaskApp:
    settings = Settings.from_environ(overrides)
    configure_logging(settings.LOG_LEVEL)
    services = build_services(settings)

    # this app's own metrics registry (jobs over its tracker, its request latency): see service/metrics.py
    app_metrics = metrics.AppMetrics(services.jobs.tracker, services.jobs.refresh_active)

    app = connexion.FlaskApp(__name__, specification_dir=str(SPEC_PATH.parent))
    # outermost: times every request by operationId, and serves /metrics as <api base>/metrics
    app.add_middleware(metrics.RequestMetricsMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       metrics=app_metrics, api_base=load_spec()["servers"][0]["url"])
    app.add_middleware(RequestIdMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(ControlCharacterPathGuard, position=MiddlewarePosition.BEFORE_ROUTING)
    # followed logs (SSE) are served on the ASGI server itself, after routing and validation
    app.add_middleware(LogFollowMiddleware, position=MiddlewarePosition.BEFORE_CONTEXT, services=services)
    app.add_middleware(BodyLimitMiddleware, position=MiddlewarePosition.BEFORE_ROUTING,
                       request_max_bytes=settings.REQUEST_MAX_BYTES, upload_max_bytes=settings.DATASET_MAX_BYTES)
    spec = copy.deepcopy(load_spec())  # Connexion resolves $refs in place
    app.add_api(
        spec,
        resolver=connexion.Resolver(operation_table(spec).__getitem__),
        pythonic_params=True,
        strict_validation=True,
        validate_responses=validate_responses,
        validator_map=VALIDATORS,
        # compact by default (results reach megabytes); `pretty_print=true` indents, as upstream
        jsonifier=Jsonifier(json, separators=(",", ":")),
    )
    app.add_error_handler(ProblemException, _problem_response)
    app.add_error_handler(ApiError, _api_error_response)
    app.add_error_handler(SchedulerError, lambda request, exc: _api_error_response(request, _scheduler_error(exc)))
    app.add_error_handler(StarletteHTTPException, _starlette_http_response)
    app.add_error_handler(Exception, _unexpected_response)

    flask_app: Flask = app.app
    flask_app.extensions["datamonkey"] = services
    flask_app.extensions[metrics.EXTENSION] = app_metrics
    # Werkzeug refuses bodies beyond this with 413 before reading them; the upload stream
    # enforces DATASET_MAX_BYTES exactly. The margin covers multipart framing and `meta`.
    flask_app.config["MAX_CONTENT_LENGTH"] = settings.DATASET_MAX_BYTES + 1024 * 1024
    flask_app.register_error_handler(ApiError, _flask_api_error)
    flask_app.register_error_handler(SchedulerError, lambda exc: _flask_api_error(_scheduler_error(exc)))
    flask_app.register_error_handler(HTTPException, _flask_http_error)
    flask_app.register_error_handler(Exception, _flask_unexpected)
    flask_app.before_request(_read_chunked_bodies)
    flask_app.after_request(_pretty_print)
    return app


@functools.lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """openapi.yaml, parsed once per process (with libyaml's C loader when available)."""
    return yaml.load(SPEC_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def build_services(settings: Settings) -> Services:
    scheduler = build_scheduler(settings)
    dataset_tracker = FileDatasetTracker(settings.DATASET_LOCATION)
    dataset_tracker.sweep_incoming()  # what a killed process left half-uploaded
    hyphy_binary = hyphy.pick_binary(settings.HYPHY_BINARY)
    methods = MethodCatalog(provider_for(scheduler, settings.JOB_WORK_LOCATION, hyphy_binary))
    jobs = JobService(
        datasets=dataset_tracker,
        tracker=FileJobTracker(settings.JOB_TRACKER_LOCATION),
        scheduler=scheduler,
        work_root=settings.JOB_WORK_LOCATION,
        hyphy_binary=hyphy_binary,
        resource_overrides=settings.resource_overrides,
        methods=methods,
    )
    jobs.recover()
    atexit.register(scheduler.shutdown)
    return Services(
        settings=settings,
        sessions=Sessions(settings.SESSION_LOCATION, settings.SESSION_MODE,
                          load_api_tokens(settings.SERVICE_API_TOKENS, settings.SERVICE_API_TOKENS_FILE)),
        datasets=DatasetService(dataset_tracker, settings.DATASET_MAX_BYTES, jobs.active_using,
                                max_sequences=settings.DATASET_MAX_SEQUENCES, max_sites=settings.DATASET_MAX_SITES),
        jobs=jobs,
        scheduler=scheduler,
        methods=methods,
    )


class ControlCharacterPathGuard:
    """ASGI middleware: a path with a control character (e.g. `%0A` in an id) is a 404.

    Connexion mounts the API on a `.*` pattern, which stops at a newline: such a request bypassed
    Connexion's routing and validation, reached the Flask route (whose converter accepts it) and
    crashed there (500, "Working outside of operation context"). No route or id has one.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and any(ord(c) < 0x20 or ord(c) == 0x7F for c in scope.get("path", "")):
            raise StarletteHTTPException(404)
        await self.app(scope, receive, send)


# -- error rendering --------------------------------------------------------------------------
def _body(error: ApiError) -> dict[str, Any]:
    return {**error.body(), "request_id": current_request_id()}


def _log(error: ApiError) -> None:
    level = logging.WARNING if error.status < 500 else logging.ERROR
    log.log(level, "request failed", extra={"status": error.status, "error": error.message})


def _as_api_error(problem: ProblemException) -> ApiError:
    """Connexion's problems (validation, routing, media type) in upstream's shapes."""
    if problem.status == 400:
        errors = getattr(problem, "errors", None) or [FieldError("body", str(problem.detail or problem.title))]
        return InvalidRequest(errors)
    if problem.status == 404:
        return NotFound("Not found: no such endpoint")
    if problem.status >= 500:
        return ApiError(str(problem.detail or problem.title))
    return ClientError(problem.status, str(problem.detail or problem.title))


def _scheduler_error(exc: SchedulerError) -> ApiError:
    if isinstance(exc, CredentialsRefused):
        return Unauthorized(str(exc))
    if isinstance(exc, SchedulerUnavailable):
        return ServiceUnavailable(f"the job scheduler is unavailable: {exc}")
    return ApiError(str(exc))


def _problem_response(_request, problem: ProblemException) -> ConnexionResponse:
    return _api_error_response(_request, _as_api_error(problem))


def _api_error_response(_request, error: ApiError, extra_headers: Mapping[str, str] | None = None) -> ConnexionResponse:
    """Any ApiError (our own, raised by ASGI middleware such as the log streams, or translated
    from Connexion and Starlette) as its upstream-shaped JSON answer."""
    _log(error)
    return ConnexionResponse(status_code=error.status, body=json.dumps(_body(error)),
                             content_type="application/json", headers={**(extra_headers or {}), **error.headers()})


def _starlette_http_response(_request, exc: StarletteHTTPException) -> ConnexionResponse:
    """Starlette's own HTTP errors (e.g. 405 from routing): upstream shape and request id too."""
    if exc.status_code == 404:
        error: ApiError = NotFound("Not found: no such endpoint")
    elif exc.status_code >= 500:
        error = ApiError(str(exc.detail))
    else:
        error = ClientError(exc.status_code, str(exc.detail))
    return _api_error_response(_request, error, exc.headers)


def _unexpected_response(_request, exc: Exception) -> ConnexionResponse:
    log.exception("unhandled error", exc_info=exc)
    error = ApiError("internal server error")
    return ConnexionResponse(status_code=500, body=json.dumps(_body(error)), content_type="application/json")


def _flask_api_error(error: ApiError):
    _log(error)
    return _body(error), error.status, error.headers()


def _flask_http_error(exc: HTTPException):
    error = InvalidRequest(FieldError("body", exc.description or exc.name)) if exc.code == 400 else (
        ClientError(exc.code or 500, exc.description or exc.name))
    if exc.code == 404:
        error = NotFound("Not found: no such endpoint")
    if exc.code == 413:
        error = ClientError(413, "request body exceeds the upload limit "
                                 f"({request.max_content_length} bytes with multipart overhead)")
    _log(error)
    return _body(error), error.status


def _flask_unexpected(exc: Exception):
    log.exception("unhandled error", exc_info=exc)
    return _body(ApiError("internal server error")), 500


def _read_chunked_bodies():
    """A chunked body (no Content-Length) reaches Flask as a stream that ends with the body, but
    Werkzeug reads nothing from a stream of unknown length unless the server says it is
    terminated: an upload sent chunked was refused as "file required". MAX_CONTENT_LENGTH and
    the BodyLimitMiddleware still bound it."""
    environ = request.environ
    if "CONTENT_LENGTH" not in environ and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        environ["wsgi.input_terminated"] = True


def _pretty_print(response):
    """Upstream's `pretty_print=true` query flag: indent JSON responses."""
    if request.args.get("pretty_print", "").lower() == "true" and response.is_json and not response.direct_passthrough:
        response.set_data(json.dumps(response.get_json(), indent=2) + "\n")
    return response
