"""Service configuration: environment variables (and `.env`), validated once at start-up.

Upstream service-datamonkey's variable names are kept so its deployments can switch to us
unchanged; the ones marked "ours" are additions. Every variable is listed in `.env.example`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


SCHEDULER_TYPES = ("LocalScheduler", "SlurmRestScheduler")
DATASET_TRACKER_TYPES = ("FileDatasetTracker",)
JOB_TRACKER_TYPES = ("FileJobTracker",)
SESSION_MODES = ("anonymous", "auto")


#: Variables that override every method's default resources (methods.registry.Resources fields).
RESOURCE_OVERRIDES = {"METHOD_TIME_LIMIT_MIN": "time_limit_min", "METHOD_CPUS": "cpus", "METHOD_MEMORY_MB": "memory_mb"}


@dataclass(frozen=True)
class Settings:
    """Typed, validated view of the environment. Field names are the variable names."""

    # upstream names
    DATASET_TRACKER_TYPE: str = "FileDatasetTracker"
    DATASET_LOCATION: Path = Path("data/datasets")
    JOB_TRACKER_TYPE: str = "FileJobTracker"
    JOB_TRACKER_LOCATION: Path = Path("data/job-tracker")
    SCHEDULER_TYPE: str = "LocalScheduler"
    SLURM_REST_URL: str = "http://127.0.0.1:6820"
    SLURM_REST_API_PATH: str = "auto"  # "auto": the newest version slurmrestd serves that we support
    SLURM_REST_SUBMIT_API_PATH: str = ""
    SLURM_QUEUE_NAME: str = "debug"
    SLURM_JWT_KEY_PATH: str = ""
    SLURM_JWT_USERNAME: str = ""
    SLURM_JWT_EXPIRATION_SECS: int = 86400
    SLURM_JWT_REFRESH_SECS: int = 43200  # ours
    SLURM_POLL_SECS: int = 5  # ours: one slurmrestd job listing per interval feeds every status read
    # ours: per-job resources for every method; 0 = the method registry's default
    METHOD_TIME_LIMIT_MIN: int = 0
    METHOD_CPUS: int = 0
    METHOD_MEMORY_MB: int = 0
    SERVICE_DATAMONKEY_PORT: int = 9300
    # ours
    SERVICE_HOST: str = "127.0.0.1"
    JOB_WORK_LOCATION: Path = Path("data/jobs")
    SESSION_LOCATION: Path = Path("data/sessions")
    SESSION_MODE: str = "anonymous"
    # ours: locked-down mode for shared deployments: only these user tokens are accepted
    SERVICE_API_TOKENS: str = ""
    SERVICE_API_TOKENS_FILE: str = ""
    DATASET_MAX_BYTES: int = 100 * 1024 * 1024
    REQUEST_MAX_BYTES: int = 1024 * 1024  # ours: any request body but an upload
    HYPHY_BINARY: str = "auto"
    LOCAL_MAX_CONCURRENT_JOBS: int = field(default_factory=lambda: os.cpu_count() or 1)
    LOG_LEVEL: str = "INFO"
    # ours: largest dataset accepted at upload (422 above it); 0 = unlimited
    DATASET_MAX_SEQUENCES: int = 5000
    DATASET_MAX_SITES: int = 100_000

    @classmethod
    def from_mapping(cls, env: Mapping[str, Any]) -> "Settings":
        """Build settings from a mapping of variable name → value (strings or typed values).

        Paths, the defaults (`data/…`) included, are made absolute here, against the directory
        the service starts in: jobs run with their own directory as cwd, where a relative path
        would name another place."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in env and env[f.name] not in (None, ""):
                values[f.name] = _convert(f.name, f.type, env[f.name])
            if _type_name(f.type) == "Path":
                values[f.name] = Path(os.path.abspath(values.get(f.name, f.default)))
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def from_environ(cls, overrides: Mapping[str, Any] | None = None) -> "Settings":
        merged: dict[str, Any] = dict(os.environ)
        merged.update(overrides or {})
        return cls.from_mapping(merged)

    @property
    def resource_overrides(self) -> dict[str, int]:
        """The METHOD_* resource variables that are set, as `Resources` field → value."""
        return {field_name: getattr(self, name) for name, field_name in RESOURCE_OVERRIDES.items() if getattr(self, name)}

    @property
    def slurm_submit_api_path(self) -> str:
        return self.SLURM_REST_SUBMIT_API_PATH or self.SLURM_REST_API_PATH

    def validate(self) -> None:
        _choice("SCHEDULER_TYPE", self.SCHEDULER_TYPE, SCHEDULER_TYPES)
        _choice("DATASET_TRACKER_TYPE", self.DATASET_TRACKER_TYPE, DATASET_TRACKER_TYPES)
        _choice("JOB_TRACKER_TYPE", self.JOB_TRACKER_TYPE, JOB_TRACKER_TYPES)
        _choice("SESSION_MODE", self.SESSION_MODE, SESSION_MODES)
        if self.SESSION_MODE == "auto" and (self.SERVICE_API_TOKENS or self.SERVICE_API_TOKENS_FILE):
            raise ConfigError("SERVICE_API_TOKENS / SERVICE_API_TOKENS_FILE (only configured tokens) and "
                              "SESSION_MODE=auto (tokens issued on upload) cannot be combined")
        from service.identity import load_api_tokens

        try:
            load_api_tokens(self.SERVICE_API_TOKENS, self.SERVICE_API_TOKENS_FILE)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        _choice("LOG_LEVEL", self.LOG_LEVEL.upper(), ("DEBUG", "INFO", "WARNING", "ERROR"))
        if not 1 <= self.SERVICE_DATAMONKEY_PORT <= 65535:
            raise ConfigError(f"SERVICE_DATAMONKEY_PORT must be 1-65535, got {self.SERVICE_DATAMONKEY_PORT}")
        for name in ("DATASET_MAX_BYTES", "REQUEST_MAX_BYTES", "LOCAL_MAX_CONCURRENT_JOBS", "SLURM_JWT_EXPIRATION_SECS",
                     "SLURM_JWT_REFRESH_SECS", "SLURM_POLL_SECS"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name in RESOURCE_OVERRIDES:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (the method's default) or more, got {getattr(self, name)}")
        for name in ("DATASET_MAX_SEQUENCES", "DATASET_MAX_SITES"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (unlimited) or a positive integer, got {getattr(self, name)}")
        if self.SCHEDULER_TYPE == "SlurmRestScheduler":
            self._validate_slurm()

    def _validate_slurm(self) -> None:
        for name in ("SLURM_REST_URL", "SLURM_JWT_KEY_PATH", "SLURM_JWT_USERNAME", "SLURM_QUEUE_NAME"):
            if not getattr(self, name).strip():
                raise ConfigError(f"{name} must be set when SCHEDULER_TYPE=SlurmRestScheduler")
        if not self.SLURM_REST_URL.startswith(("http://", "https://")):
            raise ConfigError(f"SLURM_REST_URL must be an http(s) URL, got {self.SLURM_REST_URL!r}")
        from service.schedulers.slurm_rest.adapters import UnsupportedApiVersion, version_of_path

        try:
            for name, path in (("SLURM_REST_API_PATH", self.SLURM_REST_API_PATH),
                               ("SLURM_REST_SUBMIT_API_PATH", self.slurm_submit_api_path)):
                if path != "auto":
                    version_of_path(path, name)
        except UnsupportedApiVersion as exc:
            raise ConfigError(str(exc)) from None


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _type_name(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else annotation.__name__


def _convert(name: str, annotation: Any, raw: Any) -> Any:
    type_name = _type_name(annotation)
    if type_name == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if type_name == "Path":
        return Path(raw)
    return str(raw)
