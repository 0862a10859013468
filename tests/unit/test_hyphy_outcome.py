"""service.hyphy: judging a finished run from its files, choosing the binary, building the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import hyphy, jobdir

GOOD = {"analysis": {"info": "FEL"}, "MLE": {"content": {"0": [[0.1, 0.2]]}}}


def workdir(tmp_path: Path, *, result=None, stdout: str = "", stderr: str = "", errors_log: str = "") -> Path:
    if result is not None:
        (tmp_path / jobdir.RESULT).write_text(result if isinstance(result, str) else json.dumps(result))
    for name, text in ((jobdir.STDOUT, stdout), (jobdir.STDERR, stderr), (jobdir.ERRORS_LOG, errors_log)):
        if text:
            (tmp_path / name).write_text(text)
    return tmp_path


# -- classify ------------------------------------------------------------------------------------------
def test_exit_zero_with_a_good_result_is_completed(tmp_path):
    assert hyphy.classify(workdir(tmp_path, result=GOOD, stdout="### Done\n"), 0) == hyphy.Outcome(True, "")


@pytest.mark.parametrize("result,reason", [
    (None, "wrote no result file"),
    ("", "empty result file"),
    ("{\"MLE\": {\"content\": ", "not valid JSON"),
    ("not json at all", "not valid JSON"),
    ("{}", "holds no analysis result"),
    ("[1, 2, 3]", "holds no analysis result"),
    ("null", "holds no analysis result"),
])
def test_exit_zero_without_a_usable_result_is_an_error(tmp_path, result, reason):
    outcome = hyphy.classify(workdir(tmp_path, result=result), 0)
    assert outcome.completed is False
    assert reason in outcome.reason


def test_exit_one_with_error_text_on_stdout_reports_that_message(tmp_path):
    stdout = ("Analysis Description\n--------------------\n"
              "Error:\nThe number of sequences is not the same as the tree's leaves\n\n"
              "Function call stack\n1 :  ExecuteAFile ...\n")
    outcome = hyphy.classify(workdir(tmp_path, stdout=stdout), 1)
    assert outcome.completed is False
    assert outcome.reason == ("HyPhy exited with code 1: The number of sequences is not the same as the "
                              "tree's leaves")
    assert "Function call stack" not in outcome.reason


def test_error_text_with_exit_zero_is_still_an_error(tmp_path):
    outcome = hyphy.classify(workdir(tmp_path, result=GOOD, stdout="Error: Unknown genetic code 'Martian'\n"), 0)
    assert outcome.completed is False
    assert outcome.reason == "HyPhy reported an error: Unknown genetic code 'Martian'"


def test_a_non_empty_errors_log_is_an_error(tmp_path):
    outcome = hyphy.classify(workdir(tmp_path, result=GOOD, errors_log="Likelihood function failed to converge\n"), 0)
    assert outcome.completed is False
    assert "Likelihood function failed to converge" in outcome.reason


def test_a_blank_errors_log_is_ignored(tmp_path):
    assert hyphy.classify(workdir(tmp_path, result=GOOD, errors_log="\n  \n"), 0).completed is True


def test_nonzero_exit_without_output_uses_stderr_or_says_so(tmp_path):
    assert hyphy.classify(workdir(tmp_path, stderr="Segmentation fault\n"), 139).reason == \
        "HyPhy exited with code 139: Segmentation fault"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hyphy.classify(empty, 137).reason == "HyPhy exited with code 137: no output"


def test_a_good_result_does_not_excuse_a_nonzero_exit(tmp_path):
    assert hyphy.classify(workdir(tmp_path, result=GOOD), 2).completed is False


def test_ansi_colours_are_stripped_from_messages(tmp_path):
    outcome = hyphy.classify(workdir(tmp_path, stdout="\x1b[31mError:\x1b[0m bad \x1b[1mthing\x1b[0m\n"), 1)
    assert outcome.reason == "HyPhy exited with code 1: bad thing"


def test_progress_is_the_last_phase_heading(tmp_path):
    workdir(tmp_path, stdout="### Obtaining branch lengths\nfoo\n### \x1b[1mFitting MG94\x1b[0m\nbar\n")
    assert hyphy.progress(tmp_path) == hyphy.Progress(phase="Fitting MG94")
    assert hyphy.progress(tmp_path).detail() == {"phase": "Fitting MG94"}
    assert hyphy.progress(tmp_path / "missing").text == ""


# What HyPhy 2.5.46 wrote on its pseudo-terminal stderr during FEL on adh (captured with `script`).
FEL_TERMINAL = ("\x1b[2K\rWorking on site pattern 1/170 in partition 1\x1b[2K\rWorking on site pattern 2/170 in "
                "partition 1\x1b[2K\rWorking on site pattern 17/170 in partition 1")
FEL_TERMINAL_CLEARED = FEL_TERMINAL + "\x1b[2K\r                                              \x1b[2K\r"


def test_progress_counts_from_the_terminal_status_line(tmp_path):
    workdir(tmp_path, stdout="### Obtaining branch lengths\n### For partition 1 these sites are significant\n",
            stderr=FEL_TERMINAL)
    progress = hyphy.progress(tmp_path)
    assert progress.detail() == {"phase": "For partition 1 these sites are significant",
                                 "step": "Working on site pattern 17/170 in partition 1",
                                 "done": 17, "total": 170, "fraction": 0.1}
    assert progress.text == "For partition 1 these sites are significant — Working on site pattern 17/170 in partition 1"


def test_a_cleared_status_line_is_no_step(tmp_path):
    workdir(tmp_path, stdout="### Writing results\n", stderr=FEL_TERMINAL_CLEARED)
    assert hyphy.progress(tmp_path) == hyphy.Progress(phase="Writing results")


@pytest.mark.parametrize("line,done,total", [
    ("\tSample 12/100 for partition 1", 12, 100),     # SLAC
    ("Profiling partition 1/branch AFF", None, None),  # BUSTED: no count
    ("Computing LF on a grid", None, None),
])
def test_counters_other_methods_print(tmp_path, line, done, total):
    workdir(tmp_path, stderr="\x1b[2K\r" + line)
    progress = hyphy.progress(tmp_path)
    assert (progress.step, progress.done, progress.total) == (line.strip(), done, total)


def test_terminal_text_is_cleaned_as_a_terminal_shows_it():
    assert hyphy.clean_terminal_text(FEL_TERMINAL_CLEARED + "\r\nCheck errors.log for execution error details.\r\n") == (
        "\nCheck errors.log for execution error details.\n")
    assert hyphy.clean_terminal_text("a\x1b[0;32mb\x1b[0m\nline\rover\n") == "ab\nover\n"


def test_a_failure_detail_from_stderr_leaves_out_the_counters(tmp_path):
    workdir(tmp_path, stderr=FEL_TERMINAL_CLEARED + "\r\nkilled by signal 9\r\n")
    assert hyphy.classify(tmp_path, 137).reason == "HyPhy exited with code 137: killed by signal 9"


def test_exit_code(tmp_path):
    assert jobdir.JobDirectory(tmp_path).exit_code() is None
    (tmp_path / jobdir.EXIT_STATUS).write_text("")
    assert jobdir.JobDirectory(tmp_path).exit_code() is None  # being written
    (tmp_path / jobdir.EXIT_STATUS).write_text("3\n")
    assert jobdir.JobDirectory(tmp_path).exit_code() == 3


def test_tail_reads_only_the_end(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"a" * 100 + b"\xff" + b"tail")
    assert hyphy.tail(path, 5) == "\ufffdtail"
    assert hyphy.tail(tmp_path / "nope", 5) == ""


# -- pick_binary ---------------------------------------------------------------------------------------
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse tsc msr {flags}
bogomips\t: 4800.00
"""


@pytest.fixture
def binaries(tmp_path, monkeypatch):
    """A fake /usr/lib/hyphy/bin with the three Debian builds."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("hyphy", "hyphy-avx", "hyphy-sse3"):
        (folder / name).write_text("#!/bin/sh\n")
    monkeypatch.setattr(hyphy, "BINARY_DIR", folder)
    return folder


def cpuinfo(tmp_path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(flags=flags))
    return path


@pytest.mark.parametrize("flags,expected", [
    ("sse sse2 pni ssse3 avx avx2", "hyphy-avx"),
    ("sse sse2 pni ssse3", "hyphy-sse3"),
    ("sse sse2", "hyphy"),
    ("sse sse2 avx512f", "hyphy"),  # `avx512f` is not `avx`
])
def test_pick_binary_follows_the_cpu_flags(tmp_path, binaries, flags, expected):
    assert hyphy.pick_binary("auto", cpuinfo(tmp_path, flags)) == str(binaries / expected)


def test_pick_binary_falls_back_when_a_build_is_missing(tmp_path, binaries):
    (binaries / "hyphy-avx").unlink()
    assert hyphy.pick_binary("auto", cpuinfo(tmp_path, "pni avx")) == str(binaries / "hyphy-sse3")


def test_pick_binary_without_cpuinfo_uses_the_generic_build(tmp_path, binaries):
    assert hyphy.pick_binary("auto", tmp_path / "no-such-cpuinfo") == str(binaries / "hyphy")


def test_a_configured_binary_is_used_as_is(tmp_path, binaries):
    assert hyphy.pick_binary("/opt/hyphy/bin/hyphy", cpuinfo(tmp_path, "avx")) == "/opt/hyphy/bin/hyphy"


def test_pick_binary_never_returns_the_debian_wrapper():
    assert hyphy.pick_binary("auto") != "/usr/bin/hyphy"
    assert hyphy.pick_binary("auto").startswith(str(hyphy.BINARY_DIR))


# -- command / environment -------------------------------------------------------------------------------
def test_command_puts_cpu_before_the_method():
    assert hyphy.command("/bin/hyphy-avx", 4, ["fel", "--alignment", "a"]) == \
        ["/bin/hyphy-avx", "CPU=4", "fel", "--alignment", "a"]


def test_environment_drops_hyphy_path_and_keeps_a_path():
    env = hyphy.environment({"HYPHY_PATH": "/elsewhere", "LC_ALL": "C.UTF-8"})
    assert env == {"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
