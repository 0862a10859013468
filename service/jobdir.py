"""One job's folder (JOB_WORK_LOCATION/<job id>): the name of every file in it, in one place.

Whoever reads or writes inside a job's folder goes through `JobDirectory`: the job service (the
input copies, the result), the LocalScheduler and its runner, the Slurm batch script and
scheduler, the outcome and progress rules (service/hyphy.py) and the log reader (service/logs.py).

    input/alignment.txt   the alignment dataset's bytes (without its embedded tree when a tree
    input/tree.nwk        dataset is given: service/datasets/embedded_tree.py), and that tree
    command.json          LocalScheduler: argv, env and limits the runner executes
    runner.pid            LocalScheduler: "<pid> <start time>" of the runner process
    cancelled             LocalScheduler: marker cancel() writes before it stops anything
    limit_exceeded        the runner: why it killed the job (time or memory), before exit_status
    exit_status           HyPhy's exit code, written last (atomically) by the runner or the Slurm
                          script: a finished run is judged from the files, whichever ran it
    stdout.log            HyPhy's stdout (its `### ` phase headings, its `Error:` text)
    stderr.log            the pseudo-terminal HyPhy's stderr is on (its progress counters)
    errors.log            HyPhy's own error file, written in its working directory
    result.json           HyPhy's --output
    slurm.out, slurm.err  Slurm's own output files for the batch script

Methods may add their own outputs (FUBAR's cache, GARD's best fit): `Method.job_files` in the
registry names them, inside this folder too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from service.trackers.fs import atomic_write_bytes, atomic_write_json

INPUT_DIR = "input"
ALIGNMENT_FILE = "alignment.txt"
TREE_FILE = "tree.nwk"
COMMAND_FILE = "command.json"
PID_FILE = "runner.pid"
CANCELLED_FILE = "cancelled"
LIMIT_FILE = "limit_exceeded"
EXIT_STATUS = "exit_status"
STDOUT = "stdout.log"
STDERR = "stderr.log"
ERRORS_LOG = "errors.log"
RESULT = "result.json"
SLURM_STDOUT = "slurm.out"
SLURM_STDERR = "slurm.err"
#: GET /jobs/{id}/logs `stream` → its file.
LOG_FILES = {"stdout": STDOUT, "stderr": STDERR}


class JobDirectory:
    """The paths of one job's files, and the small reads and writes the schedulers share."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"JobDirectory({str(self.path)!r})"

    # -- paths ---------------------------------------------------------------------------------
    @property
    def alignment(self) -> Path:
        return self.path / INPUT_DIR / ALIGNMENT_FILE

    @property
    def tree(self) -> Path:
        return self.path / INPUT_DIR / TREE_FILE

    @property
    def command(self) -> Path:
        return self.path / COMMAND_FILE

    @property
    def pid(self) -> Path:
        return self.path / PID_FILE

    @property
    def cancel_marker(self) -> Path:
        return self.path / CANCELLED_FILE

    @property
    def limit(self) -> Path:
        return self.path / LIMIT_FILE

    @property
    def exit_status(self) -> Path:
        return self.path / EXIT_STATUS

    @property
    def stdout(self) -> Path:
        return self.path / STDOUT

    @property
    def stderr(self) -> Path:
        return self.path / STDERR

    @property
    def errors_log(self) -> Path:
        return self.path / ERRORS_LOG

    @property
    def result(self) -> Path:
        return self.path / RESULT

    @property
    def slurm_stdout(self) -> Path:
        return self.path / SLURM_STDOUT

    @property
    def slurm_stderr(self) -> Path:
        return self.path / SLURM_STDERR

    def log(self, stream: str) -> Path:
        """The file of a log `stream` ("stdout" or "stderr")."""
        return self.path / LOG_FILES[stream]

    def output(self, filename: str) -> Path:
        """A method's own extra output file (registry `Method.job_files`)."""
        return self.path / filename

    # -- reads and writes ----------------------------------------------------------------------
    def exit_code(self) -> int | None:
        """The exit code the runner or job script recorded; None while the job has not finished."""
        try:
            return int(self.exit_status.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write_exit_code(self, code: int) -> None:
        atomic_write_bytes(self.exit_status, f"{code}\n".encode())

    def limit_reason(self) -> str:
        """Why the runner killed the job ("exceeded its time limit of 60 min"), or "" if it did not."""
        try:
            return self.limit.read_text()
        except FileNotFoundError:
            return ""

    def write_limit_reason(self, reason: str) -> None:
        atomic_write_bytes(self.limit, reason.encode())

    def write_command(self, command: dict[str, Any]) -> None:
        atomic_write_json(self.command, command)

    def read_command(self) -> dict[str, Any]:
        return json.loads(self.command.read_text())

    def write_pid(self, pid: int, started: str) -> None:
        """The runner's pid and its start time (pids are reused: the pair names one process)."""
        atomic_write_bytes(self.pid, f"{pid} {started}\n".encode())

    def read_pid(self) -> tuple[int, str] | None:
        try:
            pid_text, started = self.pid.read_text().split()
            return int(pid_text), started
        except (FileNotFoundError, ValueError):
            return None

    def mark_cancelled(self) -> None:
        atomic_write_bytes(self.cancel_marker, b"")

    @property
    def cancelled(self) -> bool:
        return self.cancel_marker.exists()

    def read_result(self) -> Any:
        """HyPhy's result JSON (raises as open/json.load do when it is missing or not JSON)."""
        with open(self.result, "rb") as handle:
            return json.load(handle)
