"""Facts about running Debian's HyPhy 2.5 that every scheduler shares.

- `/usr/bin/hyphy` is a wrapper that joins all arguments into one: call the real binary.
- A run succeeded only if it exited 0, printed no `Error:`, left no non-empty errors.log and
  wrote a non-empty JSON that parses: HyPhy can exit 0 on bad input and exit 1 with the message
  on stdout, and it creates the output file empty before it starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

BINARY_DIR = Path("/usr/lib/hyphy/bin")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

#: Files every job directory holds, whichever scheduler ran it.
STDOUT, STDERR, EXIT_STATUS, RESULT, ERRORS_LOG = "stdout.log", "stderr.log", "exit_status", "result.json", "errors.log"


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


#: Environment for a HyPhy run: HYPHY_PATH would override the compiled-in library directory.
def environment(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != "HYPHY_PATH"}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


@dataclass(frozen=True)
class Outcome:
    completed: bool
    reason: str = ""


def read_exit_status(workdir: Path) -> int | None:
    """The exit code the job wrapper recorded, or None while the job has not finished."""
    try:
        return int((workdir / EXIT_STATUS).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def classify(workdir: Path, exit_code: int) -> Outcome:
    """Decide completed vs error for a finished run from its exit code and files."""
    stdout = tail(workdir / STDOUT, 64 * 1024)
    errors_log = tail(workdir / ERRORS_LOG, 8 * 1024).strip()
    error_text = _error_message(stdout) or errors_log
    if exit_code != 0:
        detail = error_text or tail(workdir / STDERR, 2000).strip() or "no output"
        return Outcome(False, f"HyPhy exited with code {exit_code}: {detail}")
    if error_text:
        return Outcome(False, f"HyPhy reported an error: {error_text}")
    result = workdir / RESULT
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


def progress(workdir: Path) -> str:
    """The last `### ` phase heading HyPhy printed (ANSI colours stripped)."""
    text = tail(workdir / STDOUT, 32 * 1024)
    headings = [line[4:].strip() for line in text.splitlines() if line.startswith("### ")]
    return headings[-1][:200] if headings else ""


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
