"""What running HyPhy with stderr on a pseudo-terminal costs (service/hyphy.py `terminal_command`).

Jobs run HyPhy under util-linux `script` so it prints its per-site counters (progress). This
times the same analysis both ways, interleaved (plain, pty, plain, pty, …) so machine noise hits
both alike: plain = stdout and stderr to files, as HyPhy ran before; pty = `terminal_command`,
exactly as the job runners start it. Prints the medians, the ratio, the CPU the `script` relay
used, and how many counter lines HyPhy wrote. Target: ratio ≤ 1.02.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from _common import ADH_FASTA, ADH_TREE, keep_or_remove, now

from service import hyphy, jobdir

METHODS = {"fel": ["fel"], "meme": ["meme"], "slac": ["slac"]}


def run(argv: list[str], workdir: Path, pty: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process of the run) for one HyPhy run in `workdir`."""
    workdir.mkdir(parents=True)
    (workdir / "alignment.fas").write_bytes(ADH_FASTA.read_bytes() + f"{ADH_TREE}\n".encode())
    before = os.times()
    start = now()
    with open(workdir / jobdir.STDERR, "wb") as err:
        if pty:
            code = subprocess.run(hyphy.terminal_command(argv), cwd=workdir, stdin=subprocess.DEVNULL,
                                  stdout=err, stderr=err, check=False).returncode
        else:
            with open(workdir / jobdir.STDOUT, "wb") as out:
                code = subprocess.run(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      check=False).returncode
    elapsed = now() - start
    after = os.times()
    if code != 0 or not json.loads((workdir / "result.json").read_bytes()):
        raise RuntimeError(f"HyPhy failed (exit {code}); see {workdir}")
    return elapsed, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=sorted(METHODS), default="fel")
    parser.add_argument("--repeats", type=int, default=5, help="plain/pty pairs, interleaved (default 5)")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args(argv)

    binary = hyphy.pick_binary()
    root = Path(tempfile.mkdtemp(prefix="pty-overhead-"))
    command = hyphy.command(binary, 1, [*METHODS[args.method], "--alignment", "alignment.fas",
                                        "--output", "result.json"])
    times: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    counters = 0
    print(f"{args.method} on adh, CPU=1, {binary}; {args.repeats} interleaved pairs")
    for i in range(args.repeats):
        for pty in (False, True):
            wall, used = run(command, root / f"{i}-{'pty' if pty else 'plain'}", pty)
            times[pty].append(wall)
            cpu[pty].append(used)
            print(f"  {i + 1} {'pty  ' if pty else 'plain'} {wall:7.2f} s wall, {used:7.2f} s CPU")
        stderr = (root / f"{i}-pty" / jobdir.STDERR).read_bytes()
        counters = stderr.count(b"\r")
    plain, pty = statistics.median(times[False]), statistics.median(times[True])
    print(f"median plain {plain:.2f} s, median pty {pty:.2f} s")
    print(f"ratio pty/plain (medians): {pty / plain:.3f}x   target <= 1.02x   {'MET' if pty / plain <= 1.02 else 'MISSED'}")
    print(f"per pair: {', '.join(f'{b / a:.3f}x' for a, b in zip(times[False], times[True]))}")
    print(f"CPU medians: plain {statistics.median(cpu[False]):.2f} s, pty {statistics.median(cpu[True]):.2f} s "
          f"(the pty side includes the `script` relay); {counters} carriage returns (counter redraws) per pty run")
    keep_or_remove(root, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
