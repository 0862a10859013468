"""Helpers every handler uses: the wired services, the caller's identity, response warnings."""

from __future__ import annotations

from typing import Any, Mapping

from flask import current_app, request

from service.identity import Identity, cluster_credentials, request_token
from service.schedulers.base import ClusterCredentials


#: Key of the app's Services in `flask_app.extensions`.
EXTENSION = "datamonkey"


def services():
    return current_app.extensions[EXTENSION]


def identity(body_token: Any = None, *, may_open_session: bool = False) -> Identity:
    """The caller, from the token `request_token` finds (headers first, then `body_token`)."""
    return services().sessions.resolve(request_token(request.headers, body_token), may_open_session=may_open_session)


def client_cluster_credentials() -> ClusterCredentials | None:
    """The request's own `X-SLURM-USER-NAME` / `X-SLURM-USER-TOKEN` (upstream's pass-through)."""
    return cluster_credentials(request.headers.get("X-SLURM-USER-NAME"), request.headers.get("X-SLURM-USER-TOKEN"))


def warning_headers(warnings: Mapping[str, str]) -> dict[str, str]:
    """RFC 7234 `Warning: 299 - "…"` values (one per warning, comma-joined) for what a request
    asked that was accepted but ignored. The texts are ours (never echo client input), without
    quotes or backslashes, so they need no escaping inside the quoted string."""
    if not warnings:
        return {}
    return {"Warning": ", ".join(f'299 - "{text}"' for text in warnings.values())}
