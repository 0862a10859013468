"""Slurm job states → our RunState phases, as literal tables (funnel-style), plus the rules that
decide a finished job from Slurm's record *and* the job directory's `exit_status` file.

Job states: https://slurm.schedmd.com/job_state_codes.html (and squeue(1) "JOB STATE CODES").

| Slurm job_state                        | phase    | reported as                                     |
|----------------------------------------|----------|-------------------------------------------------|
| PENDING, CONFIGURING, REQUEUED, ...    | pending  | queued (also NODE_FAIL / PREEMPTED / BOOT_FAIL  |
|                                        |          | flagged REQUEUED: Slurm runs the job again)     |
| RUNNING, COMPLETING, SUSPENDED, ...    | active   | running                                         |
| COMPLETED                              | finished | exit_status file + classify() decide            |
| FAILED                                 | finished | exit_status file + classify() decide; without   |
|                                        |          | the file: error with Slurm's reason             |
| TIMEOUT, OUT_OF_MEMORY, NODE_FAIL,     | finished | error with the human reason below (Slurm killed |
| CANCELLED, PREEMPTED, BOOT_FAIL,       |          | the run, whatever the files say)                |
| DEADLINE, SPECIAL_EXIT, REVOKED        |          |                                                 |

Slurm reports COMPLETED even for a job whose working directory was missing on the node (it ran
in /tmp instead): our `exit_status` file is the truth for the script's outcome, and a COMPLETED
job without one is an error. `exit_code` is a raw wait status: 768 = exit 3, 9 = signal 9.
A file written on the compute node can show up late on this host (NFS attribute and lookup
caching), so a COMPLETED or FAILED job without it stays active for EXIT_STATUS_GRACE_S after the
end_time Slurm reports before it is judged without it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from service.jobdir import JobDirectory
from service.schedulers.base import ACTIVE, FINISHED, LOST, PENDING, RunState
from service.schedulers.slurm_rest.adapters.base import SlurmJob

#: Slurm job_state → phase. States not listed are treated as active (alive, not known final).
PHASES: dict[str, str] = {
    "PENDING": PENDING,
    "CONFIGURING": PENDING,
    "REQUEUED": PENDING,
    "REQUEUE_HOLD": PENDING,
    "REQUEUE_FED": PENDING,
    "RUNNING": ACTIVE,
    "COMPLETING": ACTIVE,
    "SUSPENDED": ACTIVE,
    "RESIZING": ACTIVE,
    "SIGNALING": ACTIVE,
    "STAGE_OUT": ACTIVE,
    "STOPPED": ACTIVE,
    "COMPLETED": FINISHED,
    "FAILED": FINISHED,
    "TIMEOUT": FINISHED,
    "OUT_OF_MEMORY": FINISHED,
    "NODE_FAIL": FINISHED,
    "CANCELLED": FINISHED,
    "PREEMPTED": FINISHED,
    "BOOT_FAIL": FINISHED,
    "DEADLINE": FINISHED,
    "SPECIAL_EXIT": FINISHED,
    "REVOKED": FINISHED,
}

#: Final states where Slurm itself ended the run: the reason wins over the job's files.
KILLED_REASONS: dict[str, str] = {
    "TIMEOUT": "hit the {limit} time limit",
    "OUT_OF_MEMORY": "ran out of memory (killed by Slurm at the job's memory limit)",
    "NODE_FAIL": "the compute node running it failed",
    "CANCELLED": "cancelled",
    "PREEMPTED": "preempted by Slurm for another job",
    "BOOT_FAIL": "the compute node failed to boot",
    "DEADLINE": "missed its Slurm deadline",
    "SPECIAL_EXIT": "ended in Slurm's SPECIAL_EXIT state (held after a failure)",
    "REVOKED": "revoked by Slurm (federated job started on another cluster)",
}


#: Seconds after a job's end_time during which a missing `exit_status` file is awaited, not judged.
EXIT_STATUS_GRACE_S = 30
#: Final states whose outcome the `exit_status` file decides.
FILE_DECIDES = frozenset({"COMPLETED", "FAILED"})


def phase_of(state: str) -> str:
    return PHASES.get(state.upper(), ACTIVE)


def decode_wait_status(raw: int | None) -> tuple[int | None, int | None]:
    """Slurm's raw `exit_code` → (exit code, signal); exactly one is set, or neither if unknown."""
    if raw is None:
        return None, None
    signal = raw & 0x7F
    if signal:
        return None, signal
    return (raw >> 8) & 0xFF, None


def describe_exit(raw: int | None) -> str:
    code, signal = decode_wait_status(raw)
    if signal is not None:
        return f"killed by signal {signal}"
    return f"exit code {code}" if code is not None else "no exit code"


def run_state(job: SlurmJob, workdir: Path, now: float) -> RunState:
    """Our view of one job Slurm still lists, at wall-clock time `now`."""
    phase = phase_of(job.state)
    info = _info(job, phase)
    if phase != FINISHED:
        return RunState(phase, info=info)
    recorded = JobDirectory(workdir).exit_code()
    if job.state in KILLED_REASONS:
        limit = f"{job.time_limit} min" if job.time_limit else "job's"
        return RunState(FINISHED, recorded, KILLED_REASONS[job.state].format(limit=limit), info)
    if recorded is not None:
        return RunState(FINISHED, recorded, "", info)
    if job.state in FILE_DECIDES and job.end_time and now - job.end_time < EXIT_STATUS_GRACE_S:
        return RunState(ACTIVE, info=info)  # the file may not be visible here yet
    if job.state == "COMPLETED":
        return RunState(FINISHED, None, "Slurm reports the job COMPLETED but its script recorded no exit status "
                                        "(is the job directory visible on the compute node?)", info)
    slurm_reason = f", {job.reason}" if job.reason and job.reason != "None" else ""
    return RunState(FINISHED, None, f"Slurm reports the job {job.state}{slurm_reason} ({describe_exit(job.exit_code)}) "
                                    "before its script recorded an exit status", info)


def gone_state(workdir: Path, slurm_id: int | str) -> RunState:
    """A job Slurm no longer lists (purged ~5 min after it ended, or the cluster was rebuilt)."""
    recorded = JobDirectory(workdir).exit_code()
    if recorded is not None:
        return RunState(FINISHED, recorded)
    return RunState(LOST, None, f"Slurm no longer knows job {slurm_id} and its script recorded no exit status "
                                "(purged after it ended, or the cluster's state was reset)")


def _info(job: SlurmJob, phase: str) -> dict:
    info: dict = {"slurm_state": job.state}
    if job.start_time and phase != PENDING:  # a pending job's start_time is a projection
        info["started"] = datetime.fromtimestamp(job.start_time, timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
    return info
