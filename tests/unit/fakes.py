"""Test doubles for unit tests: a Scheduler that never runs HyPhy.

`FakeScheduler` records what the job service submits and reports run states it is told to. To
simulate a finished run it writes the same files a real run leaves in the job directory
(`exit_status`, `result.json`, `stdout.log`, see service/hyphy.py), so the job service's real
classification logic (`hyphy.classify`) decides completed vs error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service import jobdir
from service.schedulers.base import ACTIVE, FINISHED, LOST, PENDING, JobSpec, RunState, Scheduler, SchedulerUnavailable
from service.trackers.jobs import JobRecord


class FakeScheduler(Scheduler):
    name = "FakeScheduler"

    def __init__(self) -> None:
        self.submitted: dict[str, JobSpec] = {}
        self.cancelled: list[str] = []
        self.cancel_credentials: list = []
        self.phases: dict[str, str] = {}
        self.lost_reason: dict[str, str] = {}
        #: Backend facts reported with a finished run (RunState.info), e.g. {"started": ...}.
        self.info: dict[str, dict] = {}
        #: Raised by submit() when set (e.g. SchedulerUnavailable, RuntimeError).
        self.submit_error: BaseException | None = None
        #: Raised by statuses() when set.
        self.status_error: BaseException | None = None
        self.status_calls = 0

    # -- Scheduler interface ---------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        if self.submit_error is not None:
            raise self.submit_error
        self.submitted[spec.job_id] = spec
        return f"fake-{spec.job_id}"

    def statuses(self, jobs: list[JobRecord]) -> dict[str, RunState]:
        self.status_calls += 1
        if self.status_error is not None:
            raise self.status_error
        states = {}
        for job in jobs:
            exit_code = jobdir.JobDirectory(job.workdir).exit_code()
            if job.job_id in self.cancelled:
                states[job.job_id] = RunState(FINISHED, None, "cancelled")
            elif exit_code is not None:
                states[job.job_id] = RunState(FINISHED, exit_code, "", self.info.get(job.job_id, {}))
            elif job.job_id in self.lost_reason:
                states[job.job_id] = RunState(LOST, None, self.lost_reason[job.job_id])
            else:
                states[job.job_id] = RunState(self.phases.get(job.job_id, PENDING))
        return states

    def cancel(self, job: JobRecord, credentials=None) -> None:
        if not job.native_id:
            return  # as a real backend: nothing to stop without its id
        self.cancelled.append(job.job_id)
        self.cancel_credentials.append(credentials)

    # -- helpers for tests -----------------------------------------------------------------
    def workdir(self, job_id: str) -> Path:
        return Path(self.submitted[job_id].workdir)

    def run(self, job_id: str, heading: str = "") -> None:
        """Mark the job as running; `heading` is written as HyPhy's latest `### ` phase line."""
        self.phases[job_id] = ACTIVE
        if heading:
            (self.workdir(job_id) / jobdir.STDOUT).write_text(f"### {heading}\n")

    def finish(self, job_id: str, *, exit_code: int = 0, result: Any = None, stdout: str = "",
               started: str | None = None) -> None:
        """Leave the files a finished HyPhy run leaves (a dict `result` is written as JSON)."""
        workdir = self.workdir(job_id)
        if started:
            self.info[job_id] = {"started": started}
        if result is not None:
            text = result if isinstance(result, str) else json.dumps(result)
            (workdir / jobdir.RESULT).write_text(text)
        if stdout:
            (workdir / jobdir.STDOUT).write_text(stdout)
        (workdir / jobdir.EXIT_STATUS).write_text(f"{exit_code}\n")

    def lose(self, job_id: str, reason: str = "node failure") -> None:
        self.lost_reason[job_id] = reason


GOOD_RESULT = {"analysis": {"info": "fake"}, "MLE": {"headers": [["alpha", ""]], "content": {"0": [[1.0]]}}}

__all__ = ["GOOD_RESULT", "FakeScheduler", "SchedulerUnavailable"]
