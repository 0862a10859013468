"""Every error a client sees, in upstream api-datamonkey's JSON shapes, with the request id.

One mapping (`as_api_error`) turns whatever was raised — our ApiErrors, the schedulers' neutral
errors, Connexion's problems, Starlette's and Werkzeug's HTTP errors — into an ApiError, and one
status rule (`for_status`) decides the shape of an error that is only a status and a text. The
renderers serve both sides of the app: Connexion's ASGI error handlers and Flask's.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from flask import request
from starlette.exceptions import HTTPException as StarletteHTTPException
from werkzeug.exceptions import HTTPException as WerkzeugHTTPException

from service.errors import ApiError, ClientError, FieldError, InvalidRequest, NotFound, ServiceUnavailable, Unauthorized
from service.observability import current_request_id
from service.schedulers.base import CredentialsRefused, SchedulerError, SchedulerUnavailable

log = logging.getLogger(__name__)

#: What the ASGI side registers `render` for (each class explicitly: Connexion installs its own
#: handlers for some of them, which a handler for `Exception` alone would not override).
HANDLED = (ProblemException, StarletteHTTPException, ApiError, SchedulerError, Exception)


def for_status(status: int, detail: str, errors: list[FieldError] | None = None) -> ApiError:
    """The upstream shape of an error known only by its status: 400 → 422 InvalidDataError
    (naming the field when known), 404 → NotFoundError, 5xx → ServerError, other 4xx → {error, status}."""
    if status == 400:
        return InvalidRequest(errors or [FieldError("body", detail)])
    if status == 404:
        return NotFound("Not found: no such endpoint")
    if status >= 500:
        return ApiError(detail)
    return ClientError(status, detail)


def as_api_error(exc: Exception) -> ApiError | None:
    """`exc` as the ApiError the client gets; None for an unexpected error (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, CredentialsRefused):
        return Unauthorized(str(exc))
    if isinstance(exc, SchedulerUnavailable):
        return ServiceUnavailable(f"the job scheduler is unavailable: {exc}")
    if isinstance(exc, SchedulerError):
        return ApiError(str(exc))
    if isinstance(exc, ProblemException):
        return for_status(exc.status, str(exc.detail or exc.title), getattr(exc, "errors", None))
    if isinstance(exc, StarletteHTTPException):
        return for_status(exc.status_code, str(exc.detail))
    if isinstance(exc, WerkzeugHTTPException):
        if exc.code == 413:
            return ClientError(413, "request body exceeds the upload limit "
                                    f"({request.max_content_length} bytes with multipart overhead)")
        return for_status(exc.code or 500, exc.description or exc.name)
    return None


def _answer(exc: Exception) -> tuple[ApiError, dict[str, Any], dict[str, str]]:
    """The ApiError, its body (with the request id) and headers for `exc`, logged once."""
    error = as_api_error(exc)
    if error is None:
        log.exception("unhandled error", exc_info=exc)
        error = ApiError("internal server error")
    else:
        log.log(logging.WARNING if error.status < 500 else logging.ERROR, "request failed",
                extra={"status": error.status, "error": error.message})
    # Starlette's own errors carry headers of their own (405's Allow)
    headers = {**(exc.headers or {})} if isinstance(exc, StarletteHTTPException) else {}
    return error, {**error.body(), "request_id": current_request_id()}, {**headers, **error.headers()}


def render(_request, exc: Exception) -> ConnexionResponse:
    """Connexion's (ASGI) error handler: errors raised in middleware, routing and validation."""
    error, body, headers = _answer(exc)
    return ConnexionResponse(status_code=error.status, body=json.dumps(body), content_type="application/json",
                             headers=headers)


def render_in_flask(exc: Exception):
    """Flask's error handler: errors raised in the handlers."""
    error, body, headers = _answer(exc)
    return body, error.status, headers
