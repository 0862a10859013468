"""Slurm job_state → RunState: the literal table, raw wait statuses, the exit_status file as truth."""

import pytest

from service.schedulers.base import ACTIVE, FINISHED, LOST, PENDING
from service.schedulers.slurm_rest.adapters import SlurmJob
from service.schedulers.slurm_rest.states import (
    EXIT_STATUS_GRACE_S,
    decode_wait_status,
    gone_state,
    phase_of,
    run_state,
)


#: Long after the jobs below ended (end_time 200): the exit_status grace period is over.
LATER = 10_000


def job(state, reason="None", exit_code=0, time_limit=5):
    return SlurmJob(job_id=7, name="datamonkey-x", state=state, reason=reason, exit_code=exit_code,
                    submit_time=100, start_time=110, end_time=200, cluster="local", time_limit=time_limit)


@pytest.mark.parametrize("state,phase", [
    ("PENDING", PENDING), ("CONFIGURING", PENDING), ("RUNNING", ACTIVE), ("COMPLETING", ACTIVE),
    ("COMPLETED", FINISHED), ("FAILED", FINISHED), ("TIMEOUT", FINISHED), ("OUT_OF_MEMORY", FINISHED),
    ("NODE_FAIL", FINISHED), ("CANCELLED", FINISHED), ("PREEMPTED", FINISHED), ("BOOT_FAIL", FINISHED),
    ("DEADLINE", FINISHED),
])
def test_state_table(state, phase):
    assert phase_of(state) == phase


@pytest.mark.parametrize("raw,decoded", [(0, (0, None)), (768, (3, None)), (2048, (8, None)), (9, (None, 9)),
                                         (15, (None, 15)), (None, (None, None))])
def test_raw_wait_status(raw, decoded):
    assert decode_wait_status(raw) == decoded


@pytest.mark.parametrize("state,reason", [
    ("TIMEOUT", "hit the 1 min time limit"), ("CANCELLED", "cancelled"), ("OUT_OF_MEMORY", "ran out of memory"),
    ("NODE_FAIL", "node"), ("PREEMPTED", "preempted"), ("BOOT_FAIL", "boot"), ("DEADLINE", "deadline"),
])
def test_killed_states_have_a_human_reason_even_with_an_exit_status(tmp_path, state, reason):
    (tmp_path / "exit_status").write_text("143\n")
    run = run_state(job(state, exit_code=15, time_limit=1), tmp_path, LATER)
    assert run.phase == FINISHED and reason in run.reason


def test_completed_is_decided_by_the_exit_status_file(tmp_path):
    assert run_state(job("COMPLETED"), tmp_path, LATER).reason.startswith("Slurm reports the job COMPLETED but")
    (tmp_path / "exit_status").write_text("0\n")
    run = run_state(job("COMPLETED"), tmp_path, LATER)
    assert (run.phase, run.exit_code, run.reason) == (FINISHED, 0, "")
    assert run.info["started"].endswith("Z")


def test_failed_uses_the_file_when_present_else_slurms_reason(tmp_path):
    run = run_state(job("FAILED", "JobLaunchFailure", 9), tmp_path, LATER)
    assert run.reason and "JobLaunchFailure" in run.reason and "signal 9" in run.reason
    (tmp_path / "exit_status").write_text("3\n")
    run = run_state(job("FAILED", "NonZeroExitCode", 768), tmp_path, LATER)
    assert (run.exit_code, run.reason) == (3, "")  # classify() then reports HyPhy's own message


def test_running_and_pending(tmp_path):
    assert run_state(job("RUNNING"), tmp_path, LATER).phase == ACTIVE
    pending = run_state(job("PENDING", "Priority"), tmp_path, LATER)
    assert pending.phase == PENDING and "started" not in pending.info


def test_gone_job_is_decided_by_its_files(tmp_path):
    assert gone_state(tmp_path, 7).phase == LOST
    (tmp_path / "exit_status").write_text("0\n")
    assert (gone_state(tmp_path, 7).phase, gone_state(tmp_path, 7).exit_code) == (FINISHED, 0)


@pytest.mark.parametrize("state", ["COMPLETED", "FAILED"])
def test_a_missing_exit_status_is_awaited_for_a_grace_period_after_the_end(tmp_path, state):
    """On a shared store the compute node's file can show up late here: active meanwhile, not final."""
    ended = job(state, exit_code=0)
    assert run_state(ended, tmp_path, 200 + EXIT_STATUS_GRACE_S - 1).phase == ACTIVE
    (tmp_path / "exit_status").write_text("0\n")
    assert run_state(ended, tmp_path, 200 + 1).phase == FINISHED  # decided as soon as the file shows
    (tmp_path / "exit_status").unlink()
    late = run_state(ended, tmp_path, 200 + EXIT_STATUS_GRACE_S)
    assert late.phase == FINISHED and "exit status" in late.reason


def test_a_killed_job_is_final_at_once(tmp_path):
    assert run_state(job("TIMEOUT", exit_code=15), tmp_path, 200).phase == FINISHED
