"""The Slurm batch script for one job: a pure function of validated values, every word quoted.

The script runs on a compute node as SLURM_JWT_USERNAME. It assumes a shared file system: the
job directory (under JOB_WORK_LOCATION) has the same path on the service host and on every
compute node. It writes the same files as the LocalScheduler's runner (service/jobdir.py):
HyPhy's stdout.log / stderr.log (run through `hyphy.terminal_command`, so stderr is a
pseudo-terminal and carries the progress counters) and `exit_status`, written atomically (tmp file, then mv), so
a finished run is judged from files whatever Slurm says. The script exits with HyPhy's code so
Slurm's own view (COMPLETED / FAILED) agrees. A requeued job runs the script again in the same
directory: it first removes the previous run's `exit_status`, which must not judge the new run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath
from typing import Sequence

from service.hyphy import terminal_command
from service.jobdir import EXIT_STATUS, STDERR

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def build_script(job_id: str, workdir: str | PurePosixPath, argv: Sequence[str]) -> str:
    """`#!/bin/bash` script running `argv` in `workdir`; raises ValueError on an unsafe value."""
    workdir = str(workdir)
    if not _JOB_ID.match(job_id or ""):
        raise ValueError(f"job id {job_id!r} is not a plain identifier")
    if not workdir.startswith("/") or _bad_text(workdir):
        raise ValueError(f"job directory {workdir!r} must be an absolute path without control characters")
    if not argv or not all(isinstance(word, str) and word and not _bad_text(word) for word in argv):
        raise ValueError("the command must be a non-empty list of non-empty strings without control characters")
    q = shlex.quote
    command = " ".join(q(word) for word in terminal_command(argv))
    return (
        "#!/bin/bash\n"
        f"# datamonkey job {job_id}: written by service/schedulers/slurm_rest/script.py\n"
        f"cd {q(workdir)} || exit 1\n"
        f"rm -f {q(EXIT_STATUS)}\n"
        f"{command} </dev/null >{q(STDERR)} 2>&1\n"
        "status=$?\n"
        f"printf '%s\\n' \"$status\" >{q(EXIT_STATUS + '.tmp')} && mv -f {q(EXIT_STATUS + '.tmp')} {q(EXIT_STATUS)}\n"
        'exit "$status"\n'
    )


def _bad_text(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
