"""The Slurm batch script: golden string, every word quoted, unsafe values refused."""

import json
import subprocess
import sys

import pytest

from service.schedulers.slurm_rest.script import build_script
from tests.payloads import payloads

GOLDEN = """#!/bin/bash
# datamonkey job 0123abcd: written by service/schedulers/slurm_rest/script.py
cd '/data/jobs/0123 abcd' || exit 1
rm -f exit_status
/usr/bin/env SHELL=/bin/sh script --quiet --flush --return --command 'exec /usr/lib/hyphy/bin/hyphy-avx CPU=2 fel --alignment '"'"'/data/jobs/0123 abcd/input/it'"'"'"'"'"'"'"'"'s.txt'"'"' --output '"'"'$(rm -rf ~)'"'"' </dev/null >stdout.log' /dev/null </dev/null >stderr.log 2>&1
status=$?
printf '%s\\n' "$status" >exit_status.tmp && mv -f exit_status.tmp exit_status
exit "$status"
"""


def test_golden_script():
    argv = ["/usr/lib/hyphy/bin/hyphy-avx", "CPU=2", "fel", "--alignment", "/data/jobs/0123 abcd/input/it's.txt",
            "--output", "$(rm -rf ~)"]
    assert build_script("0123abcd", "/data/jobs/0123 abcd", argv) == GOLDEN


@pytest.mark.parametrize("job_id,workdir,argv", [
    ("a;b", "/w", ["x"]),
    ("abc", "relative/dir", ["x"]),
    ("abc", "/w\nrm -rf /", ["x"]),
    ("abc", "/w", []),
    ("abc", "/w", ["ok", ""]),
    ("abc", "/w", ["ok", "line\nbreak"]),
])
def test_unsafe_values_are_refused(job_id, workdir, argv):
    with pytest.raises(ValueError):
        build_script(job_id, workdir, argv)


def test_script_runs_and_records_the_exit_status(tmp_path):
    """Run the script with bash itself: files appear, exit code is recorded and returned; stderr
    is a terminal (HyPhy prints its counters only then), stdout and stdin are not."""
    script = build_script("t1", tmp_path, ["/bin/sh", "-c", "echo out; echo err >&2; test -t 2 && test ! -t 1 "
                                                           "&& test ! -t 0 && exit 3"])
    done = subprocess.run(["bash", "-c", script], capture_output=True)
    assert done.returncode == 3
    assert (tmp_path / "stdout.log").read_text() == "out\n"
    assert (tmp_path / "stderr.log").read_bytes() == b"err\r\n"  # a terminal ends lines with CR LF
    assert (tmp_path / "exit_status").read_text() == "3\n"
    assert not (tmp_path / "exit_status.tmp").exists()


def test_a_requeued_run_starts_without_the_previous_runs_exit_status(tmp_path):
    (tmp_path / "exit_status").write_text("0\n")
    script = build_script("t1", tmp_path, ["/bin/sh", "-c", "test -e exit_status && exit 0; exit 4"])
    assert subprocess.run(["bash", "-c", script], capture_output=True).returncode == 4
    assert (tmp_path / "exit_status").read_text() == "4\n"


def test_hostile_words_reach_the_command_verbatim_and_nothing_runs(tmp_path):
    """Every hostile payload (tests/payloads.py) as an argv word, run by bash."""
    canary = tmp_path / "canary"
    words = [p for p in payloads(str(canary)) if p and not any(ord(c) < 32 or ord(c) == 127 for c in p)]
    refused = [p for p in payloads(str(canary)) if p not in words]
    for word in refused:  # empty or with control characters: never written into a script
        with pytest.raises(ValueError):
            build_script("t1", tmp_path, ["/bin/true", word])
    recorder = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
    script = build_script("t1", tmp_path, [*recorder, *words])
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "stdout.log").read_text()) == words
    assert not canary.exists() and len(words) >= 30
