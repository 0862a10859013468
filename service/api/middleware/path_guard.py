"""A path with a control character (e.g. `%0A` in an id) is a 404, before routing.

Connexion mounts the API on a `.*` pattern, which stops at a newline: such a request bypassed
Connexion's routing and validation, reached the Flask route (whose converter accepts it) and
crashed there (500, "Working outside of operation context"). No route or id has one.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException


class ControlCharacterPathGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and any(ord(c) < 0x20 or ord(c) == 0x7F for c in scope.get("path", "")):
            raise HTTPException(404)
        await self.app(scope, receive, send)
