"""LocalScheduler, the embedded default: HyPhy as subprocesses of this machine, no cluster.

Each job runs through `local_runner` in its own process group, at most `max_concurrent` at a
time (a FIFO queue holds the rest); a job cancelled before its turn never starts. The runner
enforces the job's time and memory limits, as Slurm would, and HyPhy gets at most the cpus this
machine has (a retry may ask for more). The runner writes `exit_status`, so after a service restart
a job that is still running is re-attached by pid (checked against its start time, as pids are
reused) and one that finished meanwhile is judged from its files; one that vanished is reported
lost. The queue lives in this process: run one service process with this scheduler.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path

from service import hyphy
from service.jobdir import JobDirectory
from service.schedulers.base import ACTIVE, FINISHED, LOST, PENDING, ClusterCredentials, JobSpec, RunState, Scheduler
from service.trackers.jobs import JobRecord

log = logging.getLogger(__name__)
#: How long cancel() waits for a signalled runner to exit.
CANCEL_GRACE_S = 10.0


class LocalScheduler(Scheduler):
    name = "LocalScheduler"
    #: HyPhy runs on this machine: what it offers is collected from the service's own binary
    #: (service.methods.capabilities.provider_for), not from what compute nodes publish.
    runs_hyphy_here = True

    def __init__(self, max_concurrent: int, minute_s: float = 60.0):
        """`minute_s`: the length of a minute of a job's time limit, in seconds (tests shorten it)."""
        self.max_concurrent = max_concurrent
        self.minute_s = minute_s
        self._lock = threading.Lock()
        self._queue: "OrderedDict[str, JobDirectory]" = OrderedDict()
        self._running: dict[str, int] = {}

    # -- interface -------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        if not spec.workdir.is_absolute():
            raise ValueError(f"job directory {spec.workdir} must be absolute: the runner and HyPhy run in it")
        cpus = len(os.sched_getaffinity(0))
        if spec.cpus > cpus:
            log.info("job cpus capped at the machine's",
                     extra={"job_id": spec.job_id, "cpus": spec.cpus, "capped_to": cpus})
        limits = {"memory_mb": spec.memory_mb, "time_limit_min": spec.time_limit_min,
                  "time_limit_s": spec.time_limit_min * self.minute_s}
        workdir = JobDirectory(spec.workdir)
        workdir.write_command({"argv": hyphy.cap_cpus(spec.argv, cpus), "env": spec.env, "limits": limits})
        with self._lock:
            self._queue[spec.job_id] = workdir
        self._dispatch()
        return f"local-{spec.job_id}"

    def statuses(self, jobs: list[JobRecord]) -> dict[str, RunState]:
        return {job.job_id: self._status(job) for job in jobs}

    def cancel(self, job: JobRecord, credentials: ClusterCredentials | None = None) -> None:
        workdir = JobDirectory(job.workdir)
        workdir.mark_cancelled()
        with self._lock:
            queued = self._queue.pop(job.job_id, None) is not None
        if queued:
            return
        pid = _alive_pid(workdir)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            # HyPhy exits within milliseconds of SIGTERM; wait for the runner to record that, or
            # a caller deleting the job directory next would see the runner re-create it.
            deadline = time.monotonic() + CANCEL_GRACE_S
            while _alive_pid(workdir) is not None and time.monotonic() < deadline:
                time.sleep(0.02)

    def find_submitted(self, jobs: list[JobRecord]) -> dict[str, str]:
        """submit() writes command.json first: with it, the job was taken (recover() re-attaches or queues it)."""
        return {job.job_id: f"local-{job.job_id}" for job in jobs if JobDirectory(job.workdir).command.exists()}

    def recover(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            workdir = JobDirectory(job.workdir)
            if workdir.exit_code() is not None or workdir.cancelled:
                continue
            pid = _alive_pid(workdir)
            if pid is not None:
                log.info("re-attached running job", extra={"job_id": job.job_id, "pid": pid})
                with self._lock:
                    self._running[job.job_id] = pid
                threading.Thread(target=self._watch_foreign, args=(job.job_id, pid), daemon=True).start()
            elif not workdir.pid.exists() and workdir.command.exists():
                orphan = _unrecorded_runner(workdir.path)
                if orphan is not None:
                    # Started by a process killed before it wrote the pid file: adopt it, never re-run.
                    workdir.write_pid(orphan, _start_time(orphan))
                    log.info("adopted a runner whose pid was never recorded", extra={"job_id": job.job_id, "pid": orphan})
                    with self._lock:
                        self._running[job.job_id] = orphan
                    threading.Thread(target=self._watch_foreign, args=(job.job_id, orphan), daemon=True).start()
                    continue
                with self._lock:
                    self._queue[job.job_id] = workdir
        self._dispatch()

    # -- internals -------------------------------------------------------------------------
    def _status(self, job: JobRecord) -> RunState:
        workdir = JobDirectory(job.workdir)
        exit_code = workdir.exit_code()
        cancelled = workdir.cancelled
        if exit_code is not None:
            reason = "cancelled" if cancelled else workdir.limit_reason()
            return RunState(FINISHED, exit_code, reason, _started(workdir))
        with self._lock:
            if job.job_id in self._queue:
                return RunState(FINISHED, None, "cancelled") if cancelled else RunState(PENDING)
            if job.job_id in self._running:
                return RunState(ACTIVE)
        if _alive_pid(workdir) is not None:
            return RunState(ACTIVE)
        if cancelled:
            return RunState(FINISHED, None, "cancelled")
        # Re-read: the runner may have written its exit status between the checks above.
        exit_code = workdir.exit_code()
        if exit_code is not None:
            return RunState(FINISHED, exit_code, workdir.limit_reason(), _started(workdir))
        return RunState(LOST, None, "the job's process ended without recording an exit status "
                                    "(killed, or lost in a service restart)")

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_concurrent:
                job_id, workdir = self._queue.popitem(last=False)
                # Cancelled while being submitted (cancel() found nothing to stop yet). Checked
                # under the lock that cancel() takes after writing the marker: either it is seen
                # here, or cancel() finds the runner started here and stops it.
                if workdir.cancelled:
                    log.info("cancelled job not started", extra={"job_id": job_id})
                    continue
                process = subprocess.Popen(
                    [sys.executable, "-m", "service.schedulers.local_runner", str(workdir.path)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, cwd=workdir.path, env=_runner_env(),
                )
                workdir.write_pid(process.pid, _start_time(process.pid))
                self._running[job_id] = process.pid
                threading.Thread(target=self._wait_child, args=(job_id, process), daemon=True).start()

    def _wait_child(self, job_id: str, process: subprocess.Popen) -> None:
        process.wait()
        self._finished(job_id)

    def _watch_foreign(self, job_id: str, pid: int) -> None:
        while _pid_alive(pid):
            time.sleep(1)
        self._finished(job_id)

    def _finished(self, job_id: str) -> None:
        with self._lock:
            self._running.pop(job_id, None)
        self._dispatch()


def _started(workdir: JobDirectory) -> dict[str, str]:
    """When the runner started (its pid file's mtime), for jobs that finished between two polls."""
    try:
        mtime = workdir.pid.stat().st_mtime
    except FileNotFoundError:
        return {}
    return {"started": datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}


def _runner_env() -> dict[str, str]:
    """The runner needs to import this package; HyPhy itself gets command.json's env."""
    package_root = str(Path(__file__).resolve().parents[2])
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": package_root}


def _start_time(pid: int) -> str:
    """Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a finished child not yet reaped still has a /proc entry)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _unrecorded_runner(workdir: Path) -> int | None:
    """A live runner process for `workdir`, found by its command line (its pid was never written)."""
    wanted = ["-m", "service.schedulers.local_runner", str(workdir)]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv[1:4] == wanted and _pid_alive(int(entry)):
            return int(entry)
    return None


def _alive_pid(workdir: JobDirectory) -> int | None:
    """The runner's pid if that very process (same start time) is still alive."""
    recorded = workdir.read_pid()
    if recorded is None:
        return None
    pid, started = recorded
    if _pid_alive(pid) and _start_time(pid) == started:
        return pid
    return None
