"""The HTTP side of the app: a Connexion (Flask flavour) app routed and validated from openapi.yaml.

`build(services, metrics)` stacks the middlewares (outermost first):

    RequestMetricsMiddleware  times every request by operationId; serves /metrics as <base>/metrics
    RequestIdMiddleware       a fresh X-Request-ID per request, bound for the logs
    ControlCharacterPathGuard a control character in the path is a 404 before routing
    BodyLimitMiddleware       413 as soon as a body passes its limit (uploads: DATASET_MAX_BYTES)
    LogFollowMiddleware       GET /jobs/{id}/logs?follow=true streamed on the ASGI server itself
                              (after routing and validation)

and maps every error, Connexion's own included, onto upstream's JSON shapes (api/errors.py).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

import connexion
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from flask import Flask, request

from service import metrics
from service.api import errors, operation_table
from service.api.common import EXTENSION
from service.api.middleware.body_limit import BodyLimitMiddleware
from service.api.middleware.log_follow import LogFollowMiddleware
from service.api.middleware.path_guard import ControlCharacterPathGuard
from service.api.middleware.request_id import RequestIdMiddleware
from service.api.middleware.request_metrics import RequestMetricsMiddleware
from service.api.spec import load_spec
from service.methods.spec import SPEC_PATH
from service.api.validation import VALIDATORS

if TYPE_CHECKING:
    from service.app import Services

App = connexion.FlaskApp


def build(services: Services, app_metrics: metrics.AppMetrics, *, validate_responses: bool = False) -> connexion.FlaskApp:
    settings = services.settings
    app = connexion.FlaskApp("service", specification_dir=str(SPEC_PATH.parent))
    app.add_middleware(RequestMetricsMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       metrics=app_metrics, api_base=load_spec()["servers"][0]["url"])
    app.add_middleware(RequestIdMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(ControlCharacterPathGuard, position=MiddlewarePosition.BEFORE_ROUTING)
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
    for kind in errors.HANDLED:
        app.add_error_handler(kind, errors.render)

    flask_app: Flask = app.app
    flask_app.extensions[EXTENSION] = services
    flask_app.extensions[metrics.EXTENSION] = app_metrics
    # Werkzeug refuses bodies beyond this with 413 before reading them; the upload stream
    # enforces DATASET_MAX_BYTES exactly. The margin covers multipart framing and `meta`.
    flask_app.config["MAX_CONTENT_LENGTH"] = settings.DATASET_MAX_BYTES + 1024 * 1024
    flask_app.register_error_handler(Exception, errors.render_in_flask)
    flask_app.before_request(_read_chunked_bodies)
    flask_app.after_request(_pretty_print)
    return app


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
