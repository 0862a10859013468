"""Facts about running Debian's HyPhy 2.5 that every scheduler shares.

- `/usr/bin/hyphy` is a wrapper that joins all arguments into one: call the real binary.
- A run succeeded only if it exited 0, printed no `Error:`, left no non-empty errors.log and
  wrote a non-empty JSON that parses: HyPhy can exit 0 on bad input and exit 1 with the message
  on stdout, and it creates the output file empty before it starts.
- HyPhy prints its per-site counters (`Working on site pattern 17/170`, `Sample 12/100`) on
  stderr, and only when stderr is a terminal: `terminal_command` runs it with stderr on a
  pseudo-terminal (util-linux `script`, in every Debian install) and stdout on a plain file.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from service.jobdir import STDOUT, JobDirectory

BINARY_DIR = Path("/usr/lib/hyphy/bin")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_COUNTER = re.compile(r"(\d+)\s*/\s*(\d+)")


def pick_binary(configured: str = "auto", cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The real HyPhy binary: `-avx` when the CPU has AVX, else `-sse3`, else generic."""
    if configured != "auto":
        return configured
    try:
        flags = set(re.findall(r"\w+", next((l for l in cpuinfo.read_text().splitlines() if l.startswith("flags")), "")))
    except OSError:
        flags = set()
    for suffix, flag in (("-avx", "avx"), ("-sse3", "pni")):
        candidate = BINARY_DIR / f"hyphy{suffix}"
        if flag in flags and candidate.exists():
            return str(candidate)
    return str(BINARY_DIR / "hyphy")


def command(binary: str, cpus: int, method_argv: list[str]) -> list[str]:
    return [binary, f"CPU={cpus}", *method_argv]


def cap_cpus(argv: Sequence[str], cpus: int) -> list[str]:
    """`command()`'s argv with CPU= at most `cpus`: HyPhy starts as many threads as it is told,
    however few cores the machine has."""
    binary, requested, *method_argv = argv
    return command(binary, min(int(requested.removeprefix("CPU=")), cpus), method_argv)


def terminal_command(argv: Sequence[str]) -> list[str]:
    """`argv` with stdin /dev/null (a prompt fails at once instead of waiting), stdout to the job
    directory's STDOUT, and stderr on a pseudo-terminal, so HyPhy prints its counters.

    Run the result in the job directory with stdin /dev/null and stdout + stderr to its STDERR: that
    file gets the terminal's text. `script` runs the command with $SHELL, so SHELL is pinned to
    /bin/sh (a job user's login shell may be nologin); every word is quoted for it. `script -e`
    exits with the command's code and, when terminated, stops it.
    """
    inner = f"exec {' '.join(shlex.quote(word) for word in argv)} </dev/null >{STDOUT}"
    return ["/usr/bin/env", "SHELL=/bin/sh", "script", "--quiet", "--flush", "--return", "--command", inner,
            "/dev/null"]


#: Environment for a HyPhy run: HYPHY_PATH would override the compiled-in library directory.
def environment(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != "HYPHY_PATH"}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


@dataclass(frozen=True)
class Outcome:
    completed: bool
    reason: str = ""


def classify(workdir: Path, exit_code: int) -> Outcome:
    """Decide completed vs error for a finished run from its exit code and files."""
    files = JobDirectory(workdir)
    stdout = tail(files.stdout, 64 * 1024)
    errors_log = tail(files.errors_log, 8 * 1024).strip()
    error_text = _error_message(stdout) or errors_log
    if exit_code != 0:
        detail = error_text or clean_terminal_text(tail(files.stderr, 2000)).strip() or "no output"
        return Outcome(False, f"HyPhy exited with code {exit_code}: {detail}")
    if error_text:
        return Outcome(False, f"HyPhy reported an error: {error_text}")
    result = files.result
    try:
        if result.stat().st_size == 0:
            return Outcome(False, "HyPhy exited 0 but wrote an empty result file")
        with open(result, "rb") as handle:
            parsed = json.load(handle)
    except FileNotFoundError:
        return Outcome(False, "HyPhy exited 0 but wrote no result file")
    except ValueError:
        return Outcome(False, "HyPhy's result file is not valid JSON")
    if not isinstance(parsed, dict) or not parsed:
        return Outcome(False, "HyPhy's result file holds no analysis result")
    return Outcome(True)


def _error_message(stdout: str) -> str:
    """The text after HyPhy's `Error:` up to its call-stack dump, on one line."""
    index = stdout.find("Error:")
    if index < 0:
        return ""
    message = stdout[index + len("Error:"):].split("Function call stack")[0]
    return " ".join(message.split())[:1000]


@dataclass(frozen=True)
class Progress:
    """Where a run got to: the last `### ` phase heading (stdout) and the live counter (stderr)."""

    phase: str = ""
    step: str = ""
    done: int | None = None
    total: int | None = None

    @property
    def text(self) -> str:
        return " — ".join(part for part in (self.phase, self.step) if part)

    def detail(self) -> dict[str, Any]:
        """The JSON `progress_detail`: only what is known."""
        detail: dict[str, Any] = {k: v for k, v in (("phase", self.phase), ("step", self.step)) if v}
        if self.done is not None and self.total:
            detail.update(done=self.done, total=self.total, fraction=round(min(self.done / self.total, 1.0), 4))
        return detail


def progress(workdir: Path) -> Progress:
    files = JobDirectory(workdir)
    headings = [line[4:].strip() for line in tail(files.stdout, 32 * 1024).splitlines() if line.startswith("### ")]
    step = current_status_line(tail(files.stderr, 4 * 1024))
    counter = _COUNTER.search(step)
    return Progress(phase=headings[-1][:200] if headings else "", step=step[:200],
                    done=int(counter.group(1)) if counter else None,
                    total=int(counter.group(2)) if counter and int(counter.group(2)) > 0 else None)


def current_status_line(terminal_text: str) -> str:
    """The status line a terminal shows now: HyPhy rewrites it in place (`\\r`) and blanks it
    when a loop ends, so only text after the last carriage return or newline counts."""
    return re.split(r"[\r\n]", terminal_text)[-1].strip()


def clean_terminal_text(text: str) -> str:
    """Terminal output as a log: colour codes removed, every line as it was last drawn."""
    lines = _ANSI.sub("", text).replace("\r\n", "\n").split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1].rstrip() if "\r" in line else line for line in lines)


def tail(path: Path, limit: int) -> str:
    """The last `limit` bytes of a text file, decoded leniently; "" when missing."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return _ANSI.sub("", handle.read().decode("utf-8", "replace"))
    except FileNotFoundError:
        return ""
