"""ASGI middleware for how response headers are spelled on the wire.

HTTP header names are case-insensitive, but clients are not always: upstream's v1.2.0 names the
new session's header `X-Session-Token`, and a client generated from it (or a script reading
`response.headers` as a plain dict) may look it up with exactly that casing. The Flask side of
Connexion reaches the ASGI server through a2wsgi, which lowercases every header name. This
restores the casing upstream documents for the headers this service defines; uvicorn's h11
protocol then writes names as it receives them (its httptools one would lowercase them again,
so `python -m service` selects h11).
"""

from __future__ import annotations

#: Our own response headers, in the casing upstream's specs and our README spell them.
CANONICAL_NAMES = ("X-Session-Token", "X-Request-ID", "Warning", "Retry-After")
_BY_LOWER = {name.lower().encode("latin-1"): name.encode("latin-1") for name in CANONICAL_NAMES}


class HeaderCasingMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_cased(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [(_BY_LOWER.get(bytes(name).lower(), name), value)
                                                  for name, value in message.get("headers", [])]}
            await send(message)

        await self.app(scope, receive, send_cased)
