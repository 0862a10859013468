"""LocalScheduler and its runner with real processes (fake commands, no HyPhy): absolute job
directories only, the machine's cpus, the job's time and memory limits, cancel before dispatch.

Fake commands go through `hyphy.command` as HyPhy's would: `/usr/bin/env CPU=n cmd …` runs `cmd`
with CPU=n in its environment. A limit is checked by a command that would outlive it (or end
without error) if the limit were not enforced; no test depends on how long anything takes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from service import hyphy
from service.jobdir import COMMAND_FILE, PID_FILE
from service.methods.capabilities import LocalBinaryCapabilities, PublishedCapabilities, provider_for
from service.schedulers.base import FINISHED, JobSpec, RunState
from service.schedulers.local import LocalScheduler
from service.trackers.jobs import JobRecord
from tests.integration.helpers import kill_leftover_runners
from tests.unit.fakes import FakeScheduler

#: Only for a runner that ignores its limits: the commands below end long before it.
DEADLINE_S = 120.0
#: Holds 200 MB (each byte written, so resident) for 30 s, then exits 0.
MEMORY_HOG = "import time; hog = b'x' * (200 << 20); time.sleep(30)"


@pytest.fixture
def jobs_root(tmp_path):
    root = tmp_path / "jobs"
    root.mkdir()
    yield root
    kill_leftover_runners([root])


def spec_for(root: Path, job_id: str, argv: list[str], *, memory_mb: int = 1024, time_limit_min: int = 60) -> JobSpec:
    workdir = root / job_id
    workdir.mkdir(exist_ok=True)
    return JobSpec(job_id=job_id, workdir=workdir, argv=argv, env={"PATH": "/usr/bin:/bin"}, cpus=1,
                   memory_mb=memory_mb, time_limit_min=time_limit_min)


def record_for(workdir: Path, job_id: str, native_id: str = "") -> JobRecord:
    return JobRecord(job_id=job_id, owner="o", method="fel", request_key="k", options={}, datasets={}, inputs={},
                     workdir=str(workdir), scheduler=LocalScheduler.name, resources={}, native_id=native_id)


def finished(scheduler: LocalScheduler, record: JobRecord) -> RunState:
    deadline = time.monotonic() + DEADLINE_S
    while (state := scheduler.statuses([record])[record.job_id]).phase != FINISHED:
        if time.monotonic() > deadline:
            pytest.fail(f"job {record.job_id} not finished after {DEADLINE_S:.0f} s: {state}")
        time.sleep(0.1)
    return state


# -- paths -------------------------------------------------------------------------------------
def test_a_relative_job_directory_is_refused(jobs_root, monkeypatch):
    """The runner and HyPhy run in the job directory, where a relative path means another place."""
    monkeypatch.chdir(jobs_root.parent)
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", 1, ["true"]))
    with pytest.raises(ValueError, match="absolute"):
        LocalScheduler(1).submit(JobSpec(**{**spec.__dict__, "workdir": Path("jobs/j1")}))
    assert not (spec.workdir / PID_FILE).exists()


# -- cpus --------------------------------------------------------------------------------------
def test_cpus_beyond_the_machines_are_capped_in_hyphys_argument(jobs_root):
    available = len(os.sched_getaffinity(0))
    scheduler = LocalScheduler(1)
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", available + 1, ["true"]))
    scheduler.submit(spec)
    argv = json.loads((spec.workdir / COMMAND_FILE).read_text())["argv"]
    assert argv == ["/usr/bin/env", f"CPU={available}", "true"]
    assert finished(scheduler, record_for(spec.workdir, "j1")).exit_code == 0


def test_cpus_within_the_machines_are_kept():
    assert hyphy.cap_cpus(hyphy.command("hyphy", 1, ["fel"]), 4) == ["hyphy", "CPU=1", "fel"]


# -- time and memory limits --------------------------------------------------------------------
def test_a_job_past_its_time_limit_is_killed_and_says_why(jobs_root):
    scheduler = LocalScheduler(1, minute_s=0.05)  # the limit below is then 100 ms
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", 1, ["sleep", "30"]), time_limit_min=2)
    scheduler.submit(spec)
    state = finished(scheduler, record_for(spec.workdir, "j1", "local-j1"))
    assert state.exit_code == 128 + signal.SIGKILL
    assert state.reason == "exceeded its time limit of 2 min"


def test_a_job_over_its_memory_limit_is_killed_and_says_why(jobs_root):
    scheduler = LocalScheduler(1)
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", 1, [sys.executable, "-c", MEMORY_HOG]),
                    memory_mb=100)
    scheduler.submit(spec)
    state = finished(scheduler, record_for(spec.workdir, "j1", "local-j1"))
    assert state.exit_code == 128 + signal.SIGKILL
    assert state.reason == "exceeded its memory limit of 100 MB"


def test_a_job_within_its_limits_finishes_with_its_own_status(jobs_root):
    scheduler = LocalScheduler(1)
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", 1, ["sh", "-c", "exit 3"]))
    scheduler.submit(spec)
    state = finished(scheduler, record_for(spec.workdir, "j1", "local-j1"))
    assert (state.exit_code, state.reason) == (3, "")


def test_a_command_queued_before_limits_existed_still_runs(jobs_root):
    """A restart after an upgrade re-queues command.json files written without `limits`."""
    workdir = jobs_root / "old"
    workdir.mkdir()
    (workdir / COMMAND_FILE).write_text(json.dumps(
        {"argv": hyphy.command("/usr/bin/env", 1, ["sh", "-c", "exit 4"]), "env": {"PATH": "/usr/bin:/bin"}}))
    scheduler = LocalScheduler(1)
    record = record_for(workdir, "old", "local-old")
    scheduler.recover([record])
    assert finished(scheduler, record).exit_code == 4


# -- cancel ------------------------------------------------------------------------------------
def test_a_job_cancelled_while_being_submitted_never_starts(jobs_root):
    """Cancel can land before submit() (the record has no native id yet, the job directory may
    not exist): the dispatcher must then skip the job, not run it."""
    scheduler = LocalScheduler(1)
    record = record_for(jobs_root / "j1", "j1")
    scheduler.cancel(record)
    spec = spec_for(jobs_root, "j1", hyphy.command("/usr/bin/env", 1, ["touch", "ran"]))
    scheduler.submit(spec)
    assert not (spec.workdir / PID_FILE).exists()  # dispatch is synchronous: a started runner has its pid file
    assert scheduler.statuses([record])["j1"] == RunState(FINISHED, None, "cancelled")
    # the slot it did not take runs the next job
    other = spec_for(jobs_root, "j2", hyphy.command("/usr/bin/env", 1, ["touch", "ran"]))
    scheduler.submit(other)
    assert finished(scheduler, record_for(other.workdir, "j2", "local-j2")).exit_code == 0
    assert (other.workdir / "ran").exists() and not (spec.workdir / "ran").exists()


def test_hyphy_capabilities_come_from_this_machines_binary_only_for_the_local_scheduler(tmp_path):
    """The scheduler says where HyPhy runs; which capabilities that means is decided above it."""
    assert isinstance(provider_for(LocalScheduler(1), tmp_path, str(tmp_path / "no-hyphy")), LocalBinaryCapabilities)
    assert isinstance(provider_for(FakeScheduler(), tmp_path, str(tmp_path / "no-hyphy")), PublishedCapabilities)
