"""slurmrestd API version adapters: a dict registry, picked from the configured API path.

Adding a version = one module whose `RestAdapter` subclass is composed from the shared wire formats of
dialects.py (never from another version module) + one entry in `ADAPTERS`; retiring one = deleting both.
"""

from __future__ import annotations

import re

from service.schedulers.slurm_rest.adapters.base import (
    RestAdapter,
    SlurmError,
    SlurmJob,
    SubmitRequest,
    SubmitResult,
)
from service.schedulers.slurm_rest.adapters.v0_0_37 import V0037Adapter
from service.schedulers.slurm_rest.adapters.v0_0_38 import V0038Adapter
from service.schedulers.slurm_rest.adapters.v0_0_39 import V0039Adapter
from service.schedulers.slurm_rest.adapters.v0_0_40 import V0040Adapter
from service.schedulers.slurm_rest.adapters.v0_0_41 import V0041Adapter
from service.schedulers.slurm_rest.adapters.v0_0_42 import V0042Adapter
from service.schedulers.slurm_rest.adapters.v0_0_43 import V0043Adapter
from service.schedulers.slurm_rest.adapters.v0_0_44 import V0044Adapter
from service.schedulers.slurm_rest.adapters.v0_0_45 import V0045Adapter

__all__ = ["ADAPTERS", "RestAdapter", "SlurmError", "SlurmJob", "SubmitRequest", "SubmitResult",
           "UnsupportedApiVersion", "adapter_for_path", "version_of_path"]

#: REST API version → adapter class.
ADAPTERS: dict[str, type[RestAdapter]] = {
    V0037Adapter.version: V0037Adapter,
    V0038Adapter.version: V0038Adapter,
    V0039Adapter.version: V0039Adapter,
    V0040Adapter.version: V0040Adapter,
    V0041Adapter.version: V0041Adapter,
    V0042Adapter.version: V0042Adapter,
    V0043Adapter.version: V0043Adapter,
    V0044Adapter.version: V0044Adapter,
    V0045Adapter.version: V0045Adapter,
}

_PATH = re.compile(r"^/slurm/(v\d+\.\d+\.\d+)/?$")


class UnsupportedApiVersion(ValueError):
    """The configured API path names no version we have an adapter for (raised at start-up)."""


def version_of_path(path: str, variable: str = "SLURM_REST_API_PATH") -> str:
    match = _PATH.match(path or "")
    if not match:
        raise UnsupportedApiVersion(
            f"{variable} must look like /slurm/v0.0.38 (supported: {', '.join(sorted(ADAPTERS))}); got {path!r}")
    version = match.group(1)
    if version not in ADAPTERS:
        raise UnsupportedApiVersion(
            f"{variable} {path!r} asks for slurmrestd API {version}, which this service does not support; "
            f"supported: {', '.join(sorted(ADAPTERS))}")
    return version


def adapter_for_path(path: str, variable: str = "SLURM_REST_API_PATH") -> RestAdapter:
    return ADAPTERS[version_of_path(path, variable)]()
