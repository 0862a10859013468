"""Request body size limits, enforced while the body streams in (ASGI), before anything parses it.

Connexion reads and validates a JSON body before any handler runs, so a limit in Flask comes too
late: here a body over its limit is refused with 413 as soon as the Content-Length says so, or as
soon as the streamed bytes pass the limit (chunked bodies). Uploads (multipart) get
DATASET_MAX_BYTES plus room for the form framing; the upload stream itself enforces the exact
dataset limit. Every other body gets REQUEST_MAX_BYTES.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException

#: Multipart framing, the `meta` JSON and the user_token field on top of the file itself.
MULTIPART_MARGIN = 1024 * 1024


class BodyLimitMiddleware:
    def __init__(self, app, *, request_max_bytes: int, upload_max_bytes: int):
        self.app = app
        self.request_max_bytes = request_max_bytes
        self.upload_max_bytes = upload_max_bytes + MULTIPART_MARGIN

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.upload_max_bytes if multipart else self.request_max_bytes
        what = "an upload" if multipart else "a request body (REQUEST_MAX_BYTES)"
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > limit:
            raise HTTPException(413, f"Request body too large: at most {limit} bytes for {what}")
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"Request body too large: at most {limit} bytes for {what}")
            return message

        await self.app(scope, counting_receive, send)
