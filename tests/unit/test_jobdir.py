"""service.jobdir: one job folder's file names, and the small reads and writes the schedulers share."""

from __future__ import annotations

import json

import pytest

from service import jobdir
from service.jobdir import JobDirectory
from service.methods.registry import METHODS


def test_every_file_lives_in_the_job_folder(tmp_path):
    files = JobDirectory(tmp_path)
    assert files.alignment == tmp_path / "input" / "alignment.txt"
    assert files.tree == tmp_path / "input" / "tree.nwk"
    assert {p.name for p in (files.command, files.pid, files.cancel_marker, files.limit, files.exit_status,
                             files.stdout, files.stderr, files.errors_log, files.result, files.slurm_stdout,
                             files.slurm_stderr)} == {
        "command.json", "runner.pid", "cancelled", "limit_exceeded", "exit_status", "stdout.log", "stderr.log",
        "errors.log", "result.json", "slurm.out", "slurm.err"}
    assert (files.log("stdout"), files.log("stderr")) == (files.stdout, files.stderr)
    with pytest.raises(KeyError):
        files.log("../etc/passwd")


def test_hyphy_writes_its_outputs_into_the_job_folder():
    argv = METHODS["fubar"].argv(METHODS["fubar"].normalize({"alignment": "a"})[1], "/a", "/t", "/jobs/j1")
    assert argv[argv.index("--output") + 1] == "/jobs/j1/" + jobdir.RESULT
    assert argv[argv.index("--cache") + 1] == "/jobs/j1/fubar.cache"


def test_exit_code_pid_limit_and_cancel_marker_round_trip(tmp_path):
    files = JobDirectory(tmp_path)
    assert (files.exit_code(), files.read_pid(), files.limit_reason(), files.cancelled) == (None, None, "", False)
    files.exit_status.write_text("")  # being written
    assert files.exit_code() is None
    files.write_exit_code(137)
    files.write_pid(4242, "987654")
    files.write_limit_reason("exceeded its time limit of 1 min")
    files.mark_cancelled()
    assert files.exit_status.read_text() == "137\n" and files.exit_code() == 137
    assert files.read_pid() == (4242, "987654")
    assert files.limit_reason() == "exceeded its time limit of 1 min" and files.cancelled
    files.pid.write_text("garbage\n")
    assert files.read_pid() is None


def test_command_and_result_are_json(tmp_path):
    files = JobDirectory(tmp_path)
    files.write_command({"argv": ["true"], "env": {}})
    assert files.read_command() == json.loads(files.command.read_text()) == {"argv": ["true"], "env": {}}
    files.result.write_text('{"MLE": {}}')
    assert files.read_result() == {"MLE": {}}
