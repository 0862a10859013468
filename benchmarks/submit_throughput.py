"""Submission throughput: N jobs through the service versus N raw slurmrestd submissions.

What it measures
----------------
* service : --count distinct FEL submissions through `python -m service` (started here as a
            subprocess on 127.0.0.1, SCHEDULER_TYPE=SlurmRestScheduler against the local cluster,
            `scripts/local-slurm.sh env`, every store in a world-traversable temp dir). One
            submission = multipart upload of the alignment (POST /api/v1/datasets) + POST
            /api/v1/methods/fel-start {"alignment": id}; it counts as submitted when the start
            request returned 2xx: by then the job is in Slurm (the service answers only after
            slurmrestd accepted `job/submit`, and it also reads the new job back once).
            The alignment is tiny (HyPhy's Drosophila adh cut to 6 x 30 codons, tree appended:
            FEL runs ~2 s), and submission i appends i newlines so every request is distinct
            (identical start requests dedupe to the same job; HyPhy ignores the newlines).
* raw     : --count POST /slurm/vX/job/submit calls made directly by this script (vX: the version the
            service speaks, SLURM_REST_API_PATH or `auto`; the body from its adapter), with the
            same partition, cpus (1), memory (1024 MB) and time limit (120 min) as the service's
            FEL jobs and a trivial script (`cd <dir> && /bin/true`), authenticated with a token
            minted by the service's own SlurmJWTManager from the cluster's key file.

Method
------
Both sides run in the same process and the same run, interleaved in batches of --batch
submissions (default 10): S R, R S, S R, ... (the side that goes first alternates), so queue
growth in slurmctld and machine noise hit both alike. Inside a batch, --concurrency (default 1 =
sequential) threads submit, each with its own requests.Session. One untimed warm-up submission
per side comes first (connection set-up, token minting, first-request imports). A side's wall
time is the sum of its batches' wall times: the time it took until all its --count submissions
had returned 2xx.

The jobs are real: once slurmctld's scheduler gets to them the single node runs them (two FEL
jobs at a time, the rest queue), and any HyPhy that starts during the measurement loads both
sides alike, because of the interleaving. A burst of sequential submissions usually finishes
before the first scheduling pass, so most jobs are still PENDING when the timed part ends (the
script prints their states). At the end every job of this run is cancelled: service jobs with DELETE
/api/v1/jobs/{id} (cancels in Slurm, removes the job's files), raw jobs with DELETE
/slurm/vX/job/{id}; then anything of this run Slurm still lists as pending/running is
cancelled directly, as a safety net.

--via-proxy routes both sides through the counting proxy of _common.py and prints the
slurmrestd calls per submission (the service makes more than one per start).

Output
------
Per side: wall time for all submissions, submissions/s, per-submission median and p95 (service:
upload, start and upload+start separately), and the ratios service/raw of the medians, p95s and
wall times (for both "start only" and "upload + start"). Nothing is asserted; the machine and the
cluster are shared, so compare ratios from one run rather than absolute figures across runs.

Run:  .venv/bin/python benchmarks/submit_throughput.py [--count 100] [--concurrency 1] [--batch 10]
                                                       [--via-proxy] [--keep]
Needs the local cluster: `bash scripts/local-slurm.sh status` (start is idempotent).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CountingProxy,
    Server,
    SlurmRaw,
    daemon_pids,
    keep_or_remove,
    now,
    percentile,
    restart_warning,
    slurm_env,
    summarize,
    tiny_fasta,
    work_root,
)

METHOD = "fel"
FEL_CPUS, FEL_MEMORY_MB, FEL_TIME_LIMIT_MIN = 1, 1024, 120  # the registry's FEL resources


def run_batch(indices: list[int], concurrency: int, submit_one) -> float:
    """Submit `indices` with `concurrency` threads (one Session per thread); batch wall time."""
    local = threading.local()

    def call(i: int):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        return submit_one(i, local.session)

    sessions: list[requests.Session] = []
    start = now()
    if concurrency <= 1:
        for i in indices:
            call(i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(call, indices))
    elapsed = now() - start
    for session in sessions:
        session.close()
    return elapsed


def tally(call, items) -> Counter:
    """`call(item)` for every item: counts of its results (HTTP statuses) and of the names of the
    request exceptions raised instead."""
    outcomes: Counter = Counter()
    for item in items:
        try:
            outcomes[call(item)] += 1
        except requests.RequestException as exc:
            outcomes[type(exc).__name__] += 1
    return outcomes


def ms(value: float) -> str:
    return f"{value * 1000:8.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring for method and output.")
    parser.add_argument("--count", type=int, default=100, help="submissions per side (default 100)")
    parser.add_argument("--concurrency", type=int, default=1, help="threads submitting at once per side (default 1)")
    parser.add_argument("--batch", type=int, default=10, help="submissions per interleaved batch (default 10)")
    parser.add_argument("--via-proxy", action="store_true",
                        help="send both sides through a counting proxy and print slurmrestd calls per submission")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, job dirs)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.batch < 1 or args.concurrency < 1:
        parser.error("--count, --batch and --concurrency must be >= 1")

    env = slurm_env()
    pids = daemon_pids()
    proxy = CountingProxy(env["SLURM_REST_URL"]) if args.via_proxy else None
    rest_url = proxy.url if proxy else env["SLURM_REST_URL"]
    raw = SlurmRaw(env, rest_url)
    run_id = uuid.uuid4().hex[:8]
    raw_prefix = f"dm-bench-raw-{run_id}-"
    base = work_root("submit-throughput-")
    raw_dir = base / "raw"
    raw_dir.mkdir()
    raw_dir.chmod(0o777)
    alignment = tiny_fasta()

    print(f"submit throughput: {args.count} submissions per side, concurrency {args.concurrency}, interleaved "
          f"batches of {args.batch}; service = upload + {METHOD}-start (tiny FEL), raw = job/submit of "
          f"`/bin/true`")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; slurmrestd {env['SLURM_REST_URL']}"
          f"{' via proxy ' + proxy.url if proxy else ''}; partition {env['SLURM_QUEUE_NAME']}; work dir {base}")
    server = Server(base / "service", {**env, "SLURM_REST_URL": rest_url, "LOG_LEVEL": "WARNING"})

    lock = threading.Lock()
    service_jobs: list[str] = []
    raw_jobs: list[int] = []
    timings: dict[str, list[float]] = {"upload": [], "start": [], "service": [], "raw": []}
    walls = {"service": 0.0, "raw": 0.0}
    failures: Counter = Counter()

    def submit_service(i: int, session: requests.Session, timed: bool = True) -> None:
        t0 = now()
        dataset = server.upload(alignment + b"\n" * i, f"tiny-{i}.fasta", http=session)
        t1 = now()
        job = server.start(METHOD, {"alignment": dataset}, http=session)
        t2 = now()
        if job.get("status") not in ("queued", "running"):
            failures[f"service start returned status {job.get('status')}"] += 1
        with lock:
            service_jobs.append(job["job_id"])
            if timed:
                timings["upload"].append(t1 - t0)
                timings["start"].append(t2 - t1)
                timings["service"].append(t2 - t0)

    def submit_raw(i: int, session: requests.Session, timed: bool = True) -> None:
        script = f"#!/bin/bash\n# submit_throughput raw job {i}\ncd {raw_dir} || exit 1\n/bin/true\n"
        t0 = now()
        slurm_id = raw.submit(f"{raw_prefix}{i}", script, str(raw_dir), cpus=FEL_CPUS, memory_mb=FEL_MEMORY_MB,
                              time_limit_min=FEL_TIME_LIMIT_MIN, http=session)
        t1 = now()
        with lock:
            raw_jobs.append(slurm_id)
            if timed:
                timings["raw"].append(t1 - t0)

    proxy_marks: dict[str, list[tuple[int, int]]] = {"service": [], "raw": []}
    try:
        server.announce()
        with requests.Session() as warm:
            submit_service(args.count, warm, timed=False)  # index `count`: distinct from the timed ones
            submit_raw(args.count, warm, timed=False)
        print("warm-up: 1 submission per side done (untimed)")

        indices = list(range(args.count))
        batches = [indices[k:k + args.batch] for k in range(0, len(indices), args.batch)]
        for number, batch in enumerate(batches):
            order = ("service", "raw") if number % 2 == 0 else ("raw", "service")
            for side in order:
                mark = proxy.mark() if proxy else 0
                walls[side] += run_batch(batch, args.concurrency,
                                         submit_service if side == "service" else submit_raw)
                if proxy:
                    proxy_marks[side].append((mark, proxy.mark()))
        print(f"timed: {len(service_jobs) - 1} service + {len(raw_jobs) - 1} raw submissions in {len(batches)} "
              f"interleaved batches per side (load average {os.getloadavg()[0]:.2f})")
        ours = {f"datamonkey-{job_id}" for job_id in service_jobs}
        queue = Counter(j.state for j in raw.jobs() if j.name in ours or j.name.startswith(raw_prefix))
        print(f"this run's jobs in Slurm right after the last submission: {dict(queue)}")

        # -- report ------------------------------------------------------------------------
        n = args.count
        print(f"\nper-submission latency (ms)        {'median':>8} {'p95':>8} {'max':>8}   wall for all {n}   rate")
        rows = (("service upload", "upload", None), ("service start", "start", None),
                ("service upload + start", "service", walls["service"]), ("raw job/submit", "raw", walls["raw"]))
        for label, key, wall in rows:
            values = timings[key]
            tail = f"   {wall:9.2f} s   {n / wall:6.1f}/s" if wall else ""
            print(f"  {label:<30} {ms(statistics.median(values))} {ms(percentile(values, 95))} "
                  f"{ms(max(values))}{tail}")
        raw_med, raw_p95 = statistics.median(timings["raw"]), percentile(timings["raw"], 95)
        print("\nratio service/raw")
        print(f"  start only      : median {statistics.median(timings['start']) / raw_med:.2f}x, "
              f"p95 {percentile(timings['start'], 95) / raw_p95:.2f}x"
              + (f", summed time {sum(timings['start']) / sum(timings['raw']):.2f}x" if args.concurrency == 1 else ""))
        print(f"  upload + start  : median {statistics.median(timings['service']) / raw_med:.2f}x, "
              f"p95 {percentile(timings['service'], 95) / raw_p95:.2f}x, "
              f"wall time {walls['service'] / walls['raw']:.2f}x")
        if proxy:
            print("\nslurmrestd calls during the timed batches (through the proxy)")
            for side in ("service", "raw"):
                hits = [h for a, b in proxy_marks[side] for h in proxy.between(a, b)]
                counts = summarize(hits)
                print(f"  {side}: {len(hits)} calls for {n} submissions = {len(hits) / n:.2f} per submission")
                for (method, path, status), count in sorted(counts.items()):
                    took = [h.seconds for h in hits if summarize([h]).keys() == {(method, path, status)}]
                    print(f"    {count:6d}  {method:<6} {path:<40} HTTP {status}   slurmrestd round trip "
                          f"median {statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms")
        if failures:
            print(f"\nodd: {dict(failures)}")
        warning = restart_warning(pids)
        if warning:
            print(f"\n{warning}")
    finally:
        print("\ncleaning up")
        t0 = now()
        deleted = tally(server.delete_job, service_jobs)
        print(f"  service DELETE /api/v1/jobs/{{id}} x {len(service_jobs)}: "
              f"{', '.join(f'{k}: {v}' for k, v in deleted.items()) or 'none'} ({now() - t0:.1f} s)")
        t0 = now()
        cancelled = tally(raw.cancel, raw_jobs)
        print(f"  raw DELETE /slurm/.../job/{{id}} x {len(raw_jobs)}: "
              f"{', '.join(f'HTTP {k}: {v}' for k, v in cancelled.items()) or 'none'} ({now() - t0:.1f} s; "
              f"a job that already finished answers with an error, which is fine)")
        names = {f"datamonkey-{job_id}" for job_id in service_jobs}
        try:
            time.sleep(1)
            leftover = raw.cancel_named(lambda name: name in names or name.startswith(raw_prefix))
            print(f"  still pending/running afterwards, cancelled directly: {dict(leftover) or 'none'}")
        except requests.RequestException as exc:
            print(f"  could not check Slurm for leftovers: {type(exc).__name__}")
        code = server.stop()
        raw.close()
        if proxy:
            proxy.stop()
        print(f"  server stopped (exit {code}; -15 after a graceful SIGTERM is normal)")
        keep_or_remove(base, args.keep, indent="  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
