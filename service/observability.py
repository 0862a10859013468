"""Structured JSON logs and the request id that ties a client's error body to a server log line.

The request id is made by an outermost ASGI middleware, stored in a context variable (for
Connexion's error handlers) and injected as an `X-Request-ID` request header (for the Flask
handlers, which run in a worker thread); every response carries it back in the same header.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

#: uvicorn adds `color_message` (the message again, with ANSI colour codes) to its records: noise in JSON.
_DROPPED_ATTRS = ("color_message",)
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request being handled (empty outside a request)."""
    return _request_id.get()


@contextlib.contextmanager
def request_id_bound(request_id: str) -> Iterator[None]:
    """Log records made inside carry `request_id` (the HTTP edge binds it per request)."""
    token = _request_id.set(request_id)
    try:
        yield
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
