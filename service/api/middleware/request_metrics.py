"""Time each HTTP request, labelled by the operationId Connexion routed it to (service/metrics.py
holds the metrics; this feeds one app's latency histogram)."""

from __future__ import annotations

import time

from connexion.middleware.abstract import ROUTING_CONTEXT

from service.metrics import ROOT_PATH, AppMetrics


class RequestMetricsMiddleware:
    """Outermost (before Connexion's exception middleware), so error answers are timed too. It
    gives the scope an `extensions` dict before passing it on: Connexion's routing copies the
    scope but records the operation in that (shared) dict, where it is read once the response
    is done. `/metrics` (Prometheus' default scrape path) is rewritten to `<api base>/metrics`,
    so both paths are the same operation (getMetrics), validated and answered alike.
    """

    def __init__(self, app, *, metrics: AppMetrics, api_base: str):
        self.app = app
        self.metrics = metrics
        self.routing_key = ROUTING_CONTEXT
        self.aliases = {ROOT_PATH: api_base.rstrip("/") + ROOT_PATH}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        target = self.aliases.get(scope.get("path", ""))
        if target is not None:
            scope = dict(scope, path=target, raw_path=target.encode())
        extensions = scope.setdefault("extensions", {})
        status: int | None = None

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            operation = (extensions.get(self.routing_key) or {}).get("operation_id")
            self.metrics.observe_request(operation, status, time.perf_counter() - started)
