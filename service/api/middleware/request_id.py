"""Outermost: a fresh id per HTTP request, bound for the logs and echoed as `X-Request-ID`.

A client's own X-Request-ID is not trusted (it would let one client's errors be read as
another's): it is dropped. The id is bound in a context variable (service/observability.py),
which Connexion's error handlers and, through a2wsgi's copied context, the Flask handlers see.
"""

from __future__ import annotations

import uuid

from service.observability import request_id_bound

_HEADER = b"x-request-id"


class RequestIdMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        scope = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != _HEADER])

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"X-Request-ID", request_id.encode())]
            await send(message)

        with request_id_bound(request_id):
            await self.app(scope, receive, send_with_id)
