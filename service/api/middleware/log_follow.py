"""GET /jobs/{jobId}/logs?follow=true, answered on the ASGI server itself instead of in Flask.

A followed log can stay open for an hour. Through Flask it would hold one of the WSGI bridge's
ten worker threads all that time, and keep it after the client left (the bridge cannot tell), so
a handful of followers would stall the whole API. Here a stream is an async generator
(service/logs.py `follow`): no thread while it waits, and it stops when the client disconnects.

This middleware sits after Connexion's routing and validation (MiddlewarePosition.BEFORE_CONTEXT),
so the path, query and headers it reads are the validated ones; every other request passes
through. Errors are raised as ApiError before the response starts and rendered by the app's
error handler, in the same shapes as everywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import parse_qs

from connexion.middleware.abstract import ROUTING_CONTEXT
from starlette.datastructures import Headers

from service import logs
from service.errors import FieldError, InvalidRequest
from service.identity import Identity, request_token

OPERATION = "getJobLogs"
#: A Last-Event-ID is a byte offset this service sent: ASCII digits, 18 at most (an exabyte). The
#: bound keeps a hostile header away from int(), which refuses over 4300 digits (a 500 otherwise).
RESUME_ID = re.compile(r"[0-9]{1,18}")


class LogFollowMiddleware:
    def __init__(self, app, *, services, followers: logs.Followers | None = None):
        self.app = app
        self.services = services
        self.followers = followers or logs.Followers()

    async def __call__(self, scope, receive, send):
        operation = (scope.get("extensions", {}).get(ROUTING_CONTEXT) or {}).get("operation_id")
        query = parse_qs(scope["query_string"].decode("latin-1")) if operation == OPERATION else {}
        if query.get("follow", ["false"])[-1].lower() != "true":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        resume_at = _resume_offset(headers.get("last-event-id"))
        identity = await asyncio.to_thread(self.services.sessions.resolve, request_token(headers))
        job = await asyncio.to_thread(self.services.jobs.get, identity, scope["path_params"]["jobId"])
        gone = asyncio.Event()
        events = logs.follow(self.services.jobs, job, query.get("stream", ["stdout"])[-1],
                             int(query["tail"][-1]) if "tail" in query else None,
                             resume_at, client_gone=gone.is_set)
        share = _share(identity, scope)
        self.followers.enter(share)
        watcher = asyncio.create_task(_wait_for_disconnect(receive, gone))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"), (b"x-job-status", job.state.encode())]})
            async with contextlib.aclosing(events):
                async for event in events:
                    await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self.followers.leave(share)


def _share(identity: Identity, scope) -> str:
    """Whose share of the streams (logs.MAX_FOLLOWERS_PER_OWNER) this one counts against: its
    owner's. Token-less callers all act for the one anonymous owner (SESSION_MODE=anonymous), so
    there the share is per client address instead: one anonymous client cannot hold every stream,
    and anonymous clients do not lock each other out. Behind a reverse proxy that address is the
    proxy's unless uvicorn trusts its X-Forwarded-For (FORWARDED_ALLOW_IPS; 127.0.0.1 by default)."""
    if not identity.anonymous:
        return identity.owner
    host = (scope.get("client") or ("unknown", 0))[0]
    return f"{identity.owner}@{host}"


def _resume_offset(value: str | None) -> int | None:
    """The offset to resume from (None: from the tail); 422 for anything but an offset. Checked
    here because openapi.yaml does not declare the header (browsers' EventSource sends it)."""
    if not value:
        return None
    if not RESUME_ID.fullmatch(value):
        raise InvalidRequest(FieldError("Last-Event-ID", "must be the id of an event of this stream "
                                                         "(a byte offset: at most 18 digits)"))
    return int(value)


async def _wait_for_disconnect(receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
