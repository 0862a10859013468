"""End-to-end overhead of the service versus running HyPhy by hand on the same data.

What it measures
----------------
* bare    : wall time of `hyphy-avx CPU=1 meme --alignment A --output X </dev/null` run as a
            subprocess (fresh directory per run, stdout to a file as the service does).
* service : wall time a client sees against the real server (`python -m service` started here as
            a subprocess on 127.0.0.1, LocalScheduler, LOCAL_MAX_CONCURRENT_JOBS=1, every store
            in a temp dir): multipart upload (meta + file) -> POST /api/v1/methods/meme-start
            {"alignment": id} -> POST /api/v1/methods/meme-result (same body) every --poll
            seconds until `completed` -> the response carrying HyPhy's result JSON is received.

Runs alternate bare and service (B S B S ... for --repeats pairs), so drifting machine load hits
both sides alike. The job must take >= 30 s so a fixed overhead of ~0.3 s can be judged against a
1.02x target: with --data auto (default) the script first times bare MEME on HyPhy's Drosophila
adh example and uses it if it takes >= --min-seconds; otherwise it says so and switches to MEME on
HyPhy's integrase_BDA.nex (11 x 288 codons, ~40-70 s with CPU=1).

Output
------
* one line per run with its wall time; for bare runs also HyPhy's CPU time (CPU/wall well below
  100 % means HyPhy was waiting for a core: the machine was oversubscribed), for service runs the
  CPU time the server process itself used during the job (its polling/request cost);
* the ratio service/bare of the medians (target <= 1.02x) and per pair;
* the service overhead broken down from the client's clock and the job directory's files:
    upload           client: upload request sent -> dataset id received
    start            client: start request sent -> job status received
    launch           start request sent -> HyPhy process spawned (birth time of the job's
                     stdout.log, which the runner creates right before it starts HyPhy)
    hyphy (service)  HyPhy spawned -> HyPhy exited (mtime of exit_status, written by the runner
                     right after HyPhy exits): HyPhy's own run time inside the service
    end -> result    HyPhy exited -> the completed response with the result received; about
                     half the poll interval on average plus one request (the poll granularity)
    overhead         service total - hyphy (service): what the service adds, independent of how
                     fast HyPhy happened to run
  File times come from the kernel's coarse clock (a few ms resolution), good enough here.
The machine is shared: compare ratios from one run, not absolute seconds across runs.
Nothing is asserted; the script only reports.

Repeats need distinct requests: the service returns the existing job for an identical start
request (same owner, method, options and dataset *content*), and the dataset id is derived from
the content. So run i uploads the alignment with i extra trailing newlines (run 0 = the file as
shipped); HyPhy ignores trailing whitespace, and the bare run i uses the very same bytes.

Run:  .venv/bin/python benchmarks/e2e_overhead.py [--repeats 2] [--poll 0.5] [--data auto]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ADH_NEXUS, HYPHY_ROOT, Server, keep_or_remove, now  # puts the repo root on sys.path

from service import hyphy, jobdir

DATA = {
    "adh": ADH_NEXUS,
    "integrase": HYPHY_ROOT / "data/integrase_BDA.nex",
}
TARGET = 1.02
METHOD = "meme"
# perf_counter is the clock for durations; file mtimes are wall-clock: convert with this offset.
WALL_OFFSET = time.time() - time.perf_counter()


def file_time(path: Path, birth: bool = False) -> float | None:
    """mtime (or birth time, via coreutils stat) of `path` on the perf_counter clock."""
    try:
        if birth:
            out = subprocess.run(["stat", "-c", "%.9W", str(path)], capture_output=True, text=True, check=True)
            value = float(out.stdout.strip().replace(",", "."))
            if value <= 0:
                return None
        else:
            value = path.stat().st_mtime
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    return value - WALL_OFFSET


# -- bare HyPhy ------------------------------------------------------------------------------
def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(binary: str, content: bytes, workdir: Path, cpus: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one bare HyPhy run."""
    workdir.mkdir(parents=True)
    alignment = workdir / "alignment.nex"
    alignment.write_bytes(content)
    output = workdir / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "HYPHY_PATH"}
    with open(workdir / "stdout.log", "wb") as out, open(workdir / "stderr.log", "wb") as err:
        cpu0, start = children_cpu(), now()
        code = subprocess.run([binary, f"CPU={cpus}", METHOD, "--alignment", str(alignment), "--output", str(output)],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir, env=env,
                              check=False).returncode
        elapsed, cpu = now() - start, children_cpu() - cpu0
    if code != 0 or output.stat().st_size == 0:
        raise RuntimeError(f"bare HyPhy failed (exit {code}); see {workdir}")
    json.loads(output.read_bytes())
    return elapsed, cpu


# -- the service -----------------------------------------------------------------------------
def run_service(server: Server, content: bytes, name: str, poll: float) -> dict:
    """Timings of one job through the service: upload, start, poll the result every `poll` s."""
    timings: dict = {}
    server_cpu0 = server.cpu()
    t0 = now()
    body = {"alignment": server.upload(content, name)}
    t1 = now()
    job = server.start(METHOD, body)
    t2 = now()
    if job["status"] not in ("queued", "running"):
        raise RuntimeError(f"start returned a job that is not new: {job}")
    polls = []
    next_poll = t2 + poll
    while True:
        time.sleep(max(0.0, next_poll - now()))
        sent = now()
        response = server.http.post(f"{server.url}/methods/{METHOD}-result", json=body, timeout=60)
        received = now()
        polls.append(received - sent)
        if response.status_code != 200:
            raise RuntimeError(f"result poll failed: {response.status_code} {response.text}")
        status = response.json()
        if status["status"] == "completed":
            result = status["result"]
            break
        if status["status"] == "error":
            raise RuntimeError(f"job failed: {status.get('error_message')}")
        next_poll = sent + poll
    t3 = now()
    timings["server_cpu"] = server.cpu() - server_cpu0
    if not isinstance(result, dict) or "MLE" not in result:
        raise RuntimeError("completed response without a MEME result")
    workdir = server.work / job["job_id"]
    hyphy_start = file_time(workdir / jobdir.STDOUT, birth=True) or file_time(workdir / "runner.pid")
    hyphy_end = file_time(workdir / jobdir.EXIT_STATUS)
    timings.update(total=t3 - t0, upload=t1 - t0, start=t2 - t1, polls=len(polls),
                   last_poll=polls[-1], poll_median=statistics.median(polls),
                   result_bytes=len(response.content), job_id=job["job_id"])
    if hyphy_start is not None and hyphy_end is not None:
        timings.update(launch=hyphy_start - t1, hyphy=hyphy_end - hyphy_start, end_to_result=t3 - hyphy_end)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring for how to read the output.")
    parser.add_argument("--repeats", type=int, default=2, help="bare/service pairs, interleaved B S B S (default 2)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between result polls (default 0.5)")
    parser.add_argument("--data", choices=("auto", "adh", "integrase"), default="auto",
                        help="alignment for MEME; auto = adh if bare MEME takes >= --min-seconds, else integrase")
    parser.add_argument("--min-seconds", type=float, default=30.0, help="minimum bare run time for --data auto")
    parser.add_argument("--cpus", type=int, default=1, help="HyPhy CPU= for the bare runs (the service's MEME uses 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, job dirs)")
    args = parser.parse_args(argv)

    binary = hyphy.pick_binary()
    base = Path(tempfile.mkdtemp(prefix="e2e-overhead-"))
    print(f"e2e overhead: MEME, HyPhy {binary}, CPU={args.cpus}, poll {args.poll} s, {args.repeats} pairs, "
          f"work dir {base}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    server = Server(base / "service", {"LOCAL_MAX_CONCURRENT_JOBS": "1"})
    bare: list[float] = []
    served: list[dict] = []
    try:
        server.announce(interval=0.1, request_timeout=2.0)

        data = args.data
        first_bare = None
        if data == "auto":
            seconds, cpu = run_bare(binary, DATA["adh"].read_bytes(), base / "bare-probe-adh", args.cpus)
            if seconds >= args.min_seconds:
                data, first_bare = "adh", (seconds, cpu)
                print(f"MEME on adh took {seconds:.1f} s bare (>= {args.min_seconds:g} s): using adh")
            else:
                data = "integrase"
                print(f"MEME on adh took only {seconds:.1f} s bare (< {args.min_seconds:g} s): "
                      f"using integrase_BDA.nex instead")
        content = DATA[data].read_bytes()
        print(f"alignment: {DATA[data]}\n")

        for i in range(args.repeats):
            variant = content + b"\n" * i  # distinct content -> distinct dataset id -> a new job
            if i == 0 and first_bare is not None:
                seconds, cpu = first_bare
            else:
                seconds, cpu = run_bare(binary, variant, base / f"bare-{i}", args.cpus)
            bare.append(seconds)
            print(f"  B{i + 1} bare     {seconds:8.2f} s   (load {os.getloadavg()[0]:.2f}; "
                  f"HyPhy CPU {cpu:.2f} s = {cpu / seconds * 100:.0f} % of wall)", flush=True)
            t = run_service(server, variant, f"{data}-{i}.nex", args.poll)
            served.append(t)
            print(f"  S{i + 1} service  {t['total']:8.2f} s   (load {os.getloadavg()[0]:.2f}; "
                  f"HyPhy inside {t.get('hyphy', float('nan')):.2f} s, {t['polls']} polls, "
                  f"server CPU {t['server_cpu']:.2f} s)", flush=True)

        b_med = statistics.median(bare)
        s_med = statistics.median(t["total"] for t in served)
        ratio = s_med / b_med
        print(f"\nmedian bare {b_med:.2f} s, median service {s_med:.2f} s")
        print(f"ratio service/bare (medians): {ratio:.3f}x   target <= {TARGET}x   "
              f"{'MET' if ratio <= TARGET else 'MISSED'}")
        print("per pair: " + ", ".join(f"S{i + 1}/B{i + 1} {t['total'] / b:.3f}x"
                                       for i, (b, t) in enumerate(zip(bare, served))))
        hy = [t["hyphy"] for t in served if "hyphy" in t]
        if hy:
            print(f"HyPhy run time inside the service vs bare (medians): {statistics.median(hy) / b_med:.3f}x "
                  f"(machine noise, or a slower HyPhy under the service)")
            print(f"service overhead only (total - HyPhy inside) / bare: "
                  f"{statistics.median(t['total'] - t['hyphy'] for t in served if 'hyphy' in t) / b_med * 100:.2f} %")

        print("\nservice overhead breakdown (ms)")
        cols = ("upload", "start", "launch", "end_to_result", "last_poll", "poll_median")
        header = f"{'run':<4}" + "".join(f"{c:>15}" for c in cols) + f"{'overhead':>12}{'result KB':>11}"
        print(header)
        print("-" * len(header))
        for i, t in enumerate(served):
            cells = "".join(f"{t[c] * 1000:>15.1f}" if c in t else f"{'n/a':>15}" for c in cols)
            overhead = f"{(t['total'] - t['hyphy']) * 1000:>12.1f}" if "hyphy" in t else f"{'n/a':>12}"
            print(f"S{i + 1:<3}{cells}{overhead}{t['result_bytes'] / 1024:>11.1f}")
        print("upload/start: client round trips; launch: start request sent -> HyPhy spawned; end_to_result: "
              "HyPhy exited -> completed response received\n(expected ~poll/2 + one request); last_poll: the "
              "request that carried the result; overhead = total - HyPhy run inside the service.")
    finally:
        server.stop()
        print(f"\nserver stopped (exit {server.process.returncode}; uvicorn re-raises SIGTERM after a graceful "
              f"shutdown, so -15 is normal)")
        keep_or_remove(base, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
