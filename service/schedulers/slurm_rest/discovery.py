"""Which slurmrestd REST API version to speak: the configured one, or (SLURM_REST_API_PATH=auto)
the newest version slurmrestd serves that has an adapter.

slurmrestd lists what it serves in its OpenAPI document (`GET /openapi/v3`, JWT headers required
on 22.05): one path per operation, `/slurm/v0.0.38/jobs`, `/slurmdb/v0.0.38/…` and so on. Each
Slurm release serves a window of versions (22.05: v0.0.36–38; 24.11: v0.0.40–42; 26.05: v0.0.42
onwards), so "the newest we both know" runs unchanged on every release in that window. The version
is read at the first request that needs it, not at start-up: slurmrestd may be down when the
service starts (every call then fails as unavailable, and the next one reads it again).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Iterable, Mapping

from service.schedulers.base import SchedulerUnavailable
from service.schedulers.slurm_rest.adapters import ADAPTERS, RestAdapter, adapter_for_path

AUTO = "auto"
OPENAPI_PATH = "/openapi/v3"
_SERVED = re.compile(r"^/slurm/(v\d+\.\d+\.\d+)/")


def served_versions(document: Any) -> set[str]:
    """The `/slurm/vX.Y.Z` versions an OpenAPI document has paths for."""
    paths = document.get("paths") if isinstance(document, Mapping) else None
    if not isinstance(paths, Mapping):
        return set()
    return {match.group(1) for match in map(_SERVED.match, paths) if match}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def newest_supported(served: Iterable[str]) -> str | None:
    """The newest of `served` that has an adapter (None when none has)."""
    known = [version for version in served if version in ADAPTERS]
    return max(known, key=_key) if known else None


class NoSupportedVersion(SchedulerUnavailable):
    """slurmrestd answered, but serves no REST API version this service has an adapter for."""


class ApiVersion:
    """The REST API version one client speaks. Configured paths are fixed at start-up (and
    validated by config.py); `auto` is settled by the first successful read of the OpenAPI
    document and then kept for the life of the process."""

    def __init__(self, configured: str, variable: str = "SLURM_REST_API_PATH"):
        self.configured = configured
        self.auto = configured == AUTO
        self._adapter: RestAdapter | None = None if self.auto else adapter_for_path(configured, variable)
        self._lock = threading.Lock()

    @property
    def known(self) -> RestAdapter | None:
        """The adapter if the version is settled (never reads slurmrestd)."""
        return self._adapter

    def adapter(self, read_document: Callable[[], Any]) -> RestAdapter:
        """The adapter, reading the OpenAPI document with `read_document` first if still unsettled.
        Raises SchedulerUnavailable when it cannot be read, NoSupportedVersion when it lists no
        version we support."""
        if self._adapter is not None:
            return self._adapter
        with self._lock:  # one read, however many threads ask at once
            if self._adapter is None:
                served = served_versions(read_document())
                version = newest_supported(served)
                if version is None:
                    raise NoSupportedVersion(
                        f"slurmrestd serves REST API {', '.join(sorted(served, key=_key)) or 'no /slurm/ version'}; "
                        f"this service supports {', '.join(sorted(ADAPTERS, key=_key))}")
                self._adapter = ADAPTERS[version]()
        return self._adapter

    @property
    def path(self) -> str:
        """The API base path (`/slurm/v0.0.42`); only valid once settled."""
        assert self._adapter is not None, "API version not settled yet"
        return f"/slurm/{self._adapter.version}"
