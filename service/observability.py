"""Structured JSON logs and the request id that ties a client's error body to a server log line.

The request id is made by an outermost ASGI middleware, stored in a context variable (for
Connexion's error handlers) and injected as an `X-Request-ID` request header (for the Flask
handlers, which run in a worker thread); every response carries it back in the same header.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import uuid

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "x-request-id"
#: uvicorn adds `color_message` (the message again, with ANSI colour codes) to its records: noise in JSON.
_DROPPED_ATTRS = ("color_message",)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request being handled, wherever the caller runs."""
    value = _request_id.get()
    if value:
        return value
    try:
        from flask import has_request_context, request

        if has_request_context():
            return request.headers.get(REQUEST_ID_HEADER, "")
    except ImportError:  # pragma: no cover - flask is a hard dependency
        pass
    return ""


class RequestIdMiddleware:
    """ASGI middleware: assign an id per HTTP request and echo it in the response headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        token = _request_id.set(request_id)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
        scope = dict(scope, headers=headers + [(REQUEST_ID_HEADER.encode(), request_id.encode())])

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"X-Request-ID", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


def configure_logging(level: str) -> None:
    """One JSON object per line on stderr, with a request_id field when inside a request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                       rename_fields={"levelname": "level", "asctime": "time"},
                                       reserved_attrs=[*RESERVED_ATTRS, *_DROPPED_ATTRS]))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
