"""Runs one prepared job directory: `python -m service.schedulers.local_runner <workdir>`.

The LocalScheduler starts this in its own session (process group), so a job outlives a service
restart and can be cancelled as a group. It runs `command.json`'s argv through
`hyphy.terminal_command` (stdin closed: HyPhy waits forever at a prompt otherwise; stderr on a
pseudo-terminal for its progress counters), and records the exit code in `exit_status`, the same
file the Slurm job script writes, so a finished run is judged from files by either scheduler
(the job directory's files: service/jobdir.py).

It also enforces command.json's `limits`, as Slurm would: past `time_limit_s`, or once the job's
processes hold more than `memory_mb` resident, it kills them and writes why to `limit_exceeded`
before `exit_status`. Memory is resident memory sampled here, not an address-space rlimit:
HyPhy's threads reserve far more address space than they use (FEL with CPU=2: 172 MB for 26 MB
resident), and an allocation the kernel refused could not be told from any other failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.hyphy import terminal_command
from service.jobdir import JobDirectory

#: How often the runner looks at the job's run time and memory.
SAMPLE_S = 1.0


def run(workdir: Path) -> int:
    files = JobDirectory(workdir)
    command = files.read_command()
    with open(files.stderr, "wb") as terminal:
        child = subprocess.Popen(
            terminal_command(command["argv"]), cwd=workdir, env=command["env"],
            stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal,
        )

        def forward(signum, _frame):
            child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        # a command.json written before limits were enforced has none: run it as it was queued
        exceeded = _watch(child, command["limits"]) if "limits" in command else ""
        code = child.wait()
    exit_code = code if code >= 0 else 128 - code
    if workdir.is_dir():  # a deleted job's directory must not be re-created
        if exceeded:  # first: whoever reads the exit status finds the reason
            files.write_limit_reason(exceeded)
        files.write_exit_code(exit_code)
    return exit_code


def _watch(child: subprocess.Popen, limits: dict) -> str:
    """Wait for `child`; at the first limit it exceeds, kill it and its descendants and say which."""
    deadline = time.monotonic() + limits["time_limit_s"]
    while True:
        try:
            child.wait(timeout=max(0.0, min(SAMPLE_S, deadline - time.monotonic())))
            return ""
        except subprocess.TimeoutExpired:
            pass
        processes = _descendants(child.pid)
        if time.monotonic() >= deadline:
            reason = f"exceeded its time limit of {limits['time_limit_min']} min"
        elif _resident_mb(processes) > limits["memory_mb"]:
            reason = f"exceeded its memory limit of {limits['memory_mb']} MB"
        else:
            continue
        for pid in processes:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return reason


def _descendants(root: int) -> list[int]:
    """`root` and every process under it: HyPhy runs in a session of its own (on the terminal
    `script` opens), so the runner's process group does not hold it. Each thread lists the
    children it started."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue  # ended meanwhile
    return found


def _resident_mb(pids: list[int]) -> float:
    pages = 0
    for pid in pids:
        try:
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


if __name__ == "__main__":
    run(Path(sys.argv[1]))
