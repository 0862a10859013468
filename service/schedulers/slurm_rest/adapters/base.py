"""The one interface every slurmrestd API version adapter implements, and the neutral types.

An adapter only translates: our `SubmitRequest` → that version's submit body, and that version's
response bodies → `SlurmJob` / `SubmitResult` / `SlurmError`. It does no IO, so adapters are
tested with recorded bodies alone. Versions are never converted into each other (Slinky): the
scheduler only ever sees the neutral dataclasses below.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class SlurmError:
    """One entry of a response's `errors` list, whichever of slurmrestd's three shapes it had."""

    code: int | None
    message: str
    description: str = ""
    source: str = ""

    def __str__(self) -> str:
        text = self.message or self.description or "unknown error"
        if self.description and self.description != self.message:
            text = f"{text} ({self.description})"
        return f"{text} [Slurm error {self.code}]" if self.code is not None else text


@dataclass(frozen=True)
class SlurmJob:
    """A Slurm job as any API version reports it (times: epoch seconds; 0/absent → None)."""

    job_id: int
    name: str
    state: str
    reason: str = ""
    #: The raw wait status (768 = exit 3; 9 = killed by signal 9).
    exit_code: int | None = None
    submit_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    cluster: str = ""
    #: Minutes; None when unlimited or unknown.
    time_limit: int | None = None
    user_name: str = ""
    partition: str = ""
    #: How often Slurm requeued it (`restart_cnt`): a requeue keeps id and name, moves submit_time.
    restart_count: int | None = None


@dataclass(frozen=True)
class SubmitRequest:
    """Everything a submission sends, already validated (see script.py)."""

    name: str
    partition: str
    current_working_directory: str
    environment: Mapping[str, str]
    standard_output: str
    standard_error: str
    cpus_per_task: int
    memory_per_node_mb: int
    time_limit_min: int
    script: str


@dataclass(frozen=True)
class SubmitResult:
    job_id: int | None
    errors: list[SlurmError] = field(default_factory=list)
    user_message: str = ""


class RestAdapter(abc.ABC):
    """One slurmrestd REST API version. Paths are relative to SLURM_REST_API_PATH."""

    #: e.g. "v0.0.38"; the registry key.
    version: str = ""

    # -- paths -------------------------------------------------------------------------------
    jobs_path = "/jobs"
    submit_path = "/job/submit"
    ping_path = "/ping"

    def job_path(self, job_id: int) -> str:
        return f"/job/{int(job_id)}"

    # -- translation -------------------------------------------------------------------------
    @abc.abstractmethod
    def submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        """The JSON body of POST {submit_api_path}/job/submit."""

    @abc.abstractmethod
    def parse_submit(self, body: Mapping[str, Any]) -> SubmitResult:
        """The submit response (200 or error) → job id and errors."""

    @abc.abstractmethod
    def parse_jobs(self, body: Mapping[str, Any]) -> list[SlurmJob]:
        """GET /jobs or /job/{id} → jobs."""

    @abc.abstractmethod
    def parse_last_update(self, body: Mapping[str, Any]) -> int | None:
        """GET /jobs → the controller's `last_update` time, to send back as the next `update_time`
        (None when the version has no such field or the answer was "no change")."""

    def update_time_param(self, since: int, now: float) -> int | str:
        """The `update_time` query value asking for job changes after `since` (epoch seconds, the
        controller's `last_update`), sent at our time `now`: the epoch itself for most versions."""
        return int(since)

    @abc.abstractmethod
    def parse_errors(self, body: Any) -> list[SlurmError]:
        """Any response's `errors` list (empty when there is none or the body is not JSON)."""

    def parse_cancel(self, body: Any) -> list[SlurmError]:
        """DELETE /job/{id} answered 200 → why the job was not cancelled (empty: it was)."""
        return self.parse_errors(body)

    @abc.abstractmethod
    def ping_ok(self, body: Mapping[str, Any]) -> bool:
        """GET /ping → every listed controller answers UP."""

    @staticmethod
    def parse_release(body: Any) -> str:
        """Slurm's release ("24.11.5") from any response's `meta` ('' when absent): 22.05 spells
        the key `Slurm`, 23.02+ `slurm`."""
        meta = body.get("meta") if isinstance(body, Mapping) else None
        slurm = (meta.get("slurm") or meta.get("Slurm")) if isinstance(meta, Mapping) else None
        release = slurm.get("release") if isinstance(slurm, Mapping) else None
        return release if isinstance(release, str) else ""
