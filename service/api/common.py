"""Helpers every handler uses: the wired services and the caller's identity."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from service.identity import Identity, cluster_credentials
from service.schedulers.base import ClusterCredentials


def services():
    return current_app.extensions["datamonkey"]


def identity(body_token: Any = None, *, may_open_session: bool = False) -> Identity:
    """Header `user_token` first, then the body/form field v1.2.0 also defines."""
    token = request.headers.get("user_token") or (body_token if isinstance(body_token, str) else None)
    return services().sessions.resolve(token, may_open_session=may_open_session)


def client_cluster_credentials() -> ClusterCredentials | None:
    """The request's own `X-SLURM-USER-NAME` / `X-SLURM-USER-TOKEN` (upstream's pass-through)."""
    return cluster_credentials(request.headers.get("X-SLURM-USER-NAME"), request.headers.get("X-SLURM-USER-TOKEN"))
