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
from urllib.parse import parse_qs

from connexion.middleware.abstract import ROUTING_CONTEXT
from starlette.datastructures import Headers

from service import logs

OPERATION = "getJobLogs"


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
        identity = await asyncio.to_thread(self.services.sessions.resolve, headers.get("user_token"))
        job = await asyncio.to_thread(self.services.jobs.get, identity, scope["path_params"]["jobId"])
        resume = headers.get("last-event-id", "")
        gone = asyncio.Event()
        events = logs.follow(self.services.jobs, job, query.get("stream", ["stdout"])[-1],
                             int(query["tail"][-1]) if "tail" in query else None,
                             int(resume) if resume.isdigit() else None, client_gone=gone.is_set)
        self.followers.enter()
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
            self.followers.leave()


async def _wait_for_disconnect(receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
