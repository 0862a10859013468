"""Runs one prepared job directory: `python -m service.schedulers.local_runner <workdir>`.

The LocalScheduler starts this in its own session (process group), so a job outlives a service
restart and can be cancelled as a group. It runs `command.json`'s argv through
`hyphy.terminal_command` (stdin closed: HyPhy waits forever at a prompt otherwise; stderr on a
pseudo-terminal for its progress counters), and records the exit code in `exit_status`, the same
file the Slurm job script writes, so a finished run is judged from files by either scheduler.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from service.hyphy import EXIT_STATUS, STDERR, terminal_command
from service.trackers.fs import atomic_write_bytes


def run(workdir: Path) -> int:
    command = json.loads((workdir / "command.json").read_text())
    with open(workdir / STDERR, "wb") as terminal:
        child = subprocess.Popen(
            terminal_command(command["argv"]), cwd=workdir, env=command["env"],
            stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
        )

        def forward(signum, _frame):
            child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        code = child.wait()
    exit_code = code if code >= 0 else 128 - code
    if workdir.is_dir():  # a deleted job's directory must not be re-created
        atomic_write_bytes(workdir / EXIT_STATUS, f"{exit_code}\n".encode())
    return exit_code


if __name__ == "__main__":
    run(Path(sys.argv[1]))
