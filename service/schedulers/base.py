"""The scheduler interface every backend implements (httpx-transport style: small and injected).

A backend only runs a prepared job directory and reports where the run is; deciding whether a
finished run *succeeded* is shared logic (`service.hyphy.classify`) applied to the job's files.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from service.trackers.jobs import JobRecord

#: Where a run is, as a backend sees it. "finished" runs are then classified from their files.
PENDING, ACTIVE, FINISHED, LOST = "pending", "active", "finished", "lost"


@dataclass(frozen=True)
class ClusterCredentials:
    """A client's own cluster identity (upstream's `X-SLURM-USER-NAME` / `X-SLURM-USER-TOKEN`).

    Used only for the calls of the request that carried it; never stored or logged."""

    user: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class JobSpec:
    """A prepared job: its directory (inputs written), the full command and its resources."""

    job_id: str
    workdir: Path
    argv: list[str]
    env: dict[str, str]
    cpus: int
    memory_mb: int
    time_limit_min: int
    name: str = ""
    #: Submit as this client's cluster user instead of the service's (backends that have users).
    credentials: ClusterCredentials | None = None


@dataclass(frozen=True)
class RunState:
    phase: str
    exit_code: int | None = None
    #: Set when the backend knows better than the files why a run ended (cancelled, time limit…).
    reason: str = ""
    info: dict = field(default_factory=dict)


HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"


@dataclass(frozen=True)
class ComponentHealth:
    """One component's state for GET /health. `reason` says what is wrong by name only (GET /health
    is public); `detail` (paths, URLs, slurmrestd's own words) goes to the server log only."""

    status: str
    reason: str = ""
    detail: str = ""


class SchedulerError(Exception):
    """What a backend raises; never an HTTP error: service/api/errors.py maps these at the edge."""

    @property
    def message(self) -> str:
        return str(self)


class SchedulerUnavailable(SchedulerError):
    """The backend cannot take or report jobs right now (the edge answers 503 + Retry-After)."""


class SchedulerRefused(SchedulerError):
    """The backend answered but refused the job (or a cancel), with its reason: a 500 unless the
    request chose what was refused (e.g. a retry's resources), which makes it the client's 422."""


class CredentialsRefused(SchedulerError):
    """The backend refused the client's own cluster credentials (JobSpec/cancel `credentials`):
    the client's 401, never retried with the service's own identity."""


class Scheduler(abc.ABC):
    name: str = "abstract"
    #: Whether JobSpec.credentials make the job run as the client's cluster user.
    accepts_credentials: bool = False
    #: Whether jobs run on this machine, with the HyPhy binary the service picked (so the service
    #: can ask that binary what it offers: service/methods/capabilities.py).
    runs_hyphy_here: bool = False

    @abc.abstractmethod
    def submit(self, spec: JobSpec) -> str:
        """Start or queue the job; return the backend's own id for it. Must not block on the run."""

    @abc.abstractmethod
    def statuses(self, jobs: list[JobRecord]) -> dict[str, RunState]:
        """Where each job is, keyed by our job id, in one call however many jobs are asked."""

    @abc.abstractmethod
    def cancel(self, job: JobRecord, credentials: ClusterCredentials | None = None) -> None:
        """Stop a queued or running job; idempotent. `credentials`: act as that cluster user."""

    def recover(self, jobs: list[JobRecord]) -> None:
        """Re-attach to the non-final jobs a previous service process left (called at start-up)."""

    def find_submitted(self, jobs: list[JobRecord]) -> dict[str, str]:
        """Of these jobs (recorded without a native id: the previous process died while submitting
        them), those the backend did take: job id → native id. Called at start-up, before recover()."""
        return {}

    def health(self) -> dict[str, ComponentHealth]:
        """The backend's own components by name (e.g. slurmrestd, slurmctld); empty: nothing to check."""
        return {}

    def describe(self) -> dict[str, str]:
        """What the backend runs on, for GET /health (e.g. Slurm's release and REST API version);
        public, so never URLs or paths. Empty: nothing to say."""
        return {}

    def shutdown(self) -> None:
        """Release threads and connections at exit."""
