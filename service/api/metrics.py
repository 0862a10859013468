"""GET /metrics (and /metrics at the root): the Prometheus text exposition of this app's registry.

Each app has its own registry (service/metrics.py explains why), found in the app's extensions.
"""

from __future__ import annotations

from flask import Response, current_app

from service import metrics


def get_metrics(**_params):
    app_metrics: metrics.AppMetrics = current_app.extensions[metrics.EXTENSION]
    return Response(app_metrics.exposition(), content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
