"""GET /jobs and GET /metrics for an owner with 100 000 jobs versus an owner with 1 000.

What it measures
----------------
Two stores, each served by the real server (`python -m service`, uvicorn on 127.0.0.1, the
LocalScheduler), asked over one keep-alive HTTP connection as a client would (Connexion's test
client adds ~4 ms of its own per request):

* large: --jobs jobs of the shared anonymous owner + --small-jobs of a token owner;
* small: --small-jobs of that token owner only (the baseline for /metrics, which counts a store).

Per request, p50 / p95 over --samples interleaved rounds (small and large in random order):

    first page   GET /jobs?limit=50                      100k owner vs 1k owner (large store)
    deep page    GET /jobs?limit=50&page_token=…         a cursor 60 % of the way down the list
    since        GET /jobs?limit=50&since=T              T = the finish time of the 100th newest job
    metrics      GET /metrics                            large store vs small store
    health       GET /health                             the per-request floor (no job is read)

Jobs are written as the tracker stores them (the record file and the owner marker; almost all
final, 95 % completed, 5 % error, a few cancelled; `created` one second apart, `finished` a
minute later) and the tracker then opens the store: building its index from the records is
timed and printed. Writing them one by one through `create_or_get` works too but takes minutes.

Targets: p50 <= 10 ms for the 100k owner and a 100k/1k ratio <= 2x (work per request must not
grow with the number of jobs). The machine is shared: compare the ratios of one run. Nothing is
asserted.

Run:  .venv/bin/python benchmarks/list_scale.py [--jobs 100000] [--samples 50] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Server, keep_or_remove, percentile  # puts the repo root on sys.path

from service.identity import ANONYMOUS, token_hash
from service.jobs_listing import encode_page_token
from service.trackers.fs import sharded
from service.trackers.jobs import COMPLETED, ERROR, FileJobTracker, JobRecord, new_job_id

TARGET_MS = 10.0
TARGET_RATIO = 2.0
PAGE = 50
TOKEN = "list-scale-benchmark-owner-7c1e"
TOKEN_OWNER = f"u{token_hash(TOKEN)[:40]}"
METHODS = ("fel", "meme", "slac", "fubar", "absrel", "busted")
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


def stamp(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_jobs(tracker_root: Path, owner: str, count: int, first_second: int, rng: random.Random) -> list[JobRecord]:
    """`count` final jobs of `owner`, written as FileJobTracker stores them; oldest first."""
    made = []
    for i in range(count):
        job_id = new_job_id()
        roll = rng.random()
        record = JobRecord(
            job_id=job_id, owner=owner, method=rng.choice(METHODS), request_key=f"{rng.getrandbits(256):064x}",
            options={"ci": "No"}, datasets={"alignment": f"{rng.getrandbits(128):032x}"}, inputs={},
            workdir=f"/nonexistent/{job_id}", scheduler="LocalScheduler", resources={"cpus": 1},
            state=COMPLETED if roll < 0.95 else ERROR, native_id=f"local-{job_id}",
            created=stamp(first_second + i), started=stamp(first_second + i + 1),
            finished=stamp(first_second + i + 60))
        if roll > 0.99:
            record.cancelled = record.finished
        path = sharded(tracker_root / "records", job_id, ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record.to_dict()))
        marker = tracker_root / "owners" / owner / job_id
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        made.append(record)
    return made


class Store:
    """One app over one job store, and the requests measured against it."""

    def __init__(self, root: Path, owners: dict[str, int], rng: random.Random):
        tracker_root = root / "job-tracker"  # where Server puts the job tracker
        started = time.perf_counter()
        self.jobs: dict[str, list[JobRecord]] = {}
        second = 0
        for owner, count in owners.items():
            self.jobs[owner] = write_jobs(tracker_root, owner, count, second, rng)
            second += count
        written = time.perf_counter()
        FileJobTracker(tracker_root)
        opened = time.perf_counter()
        self.server = Server(root, {"LOG_LEVEL": "WARNING"})
        print(f"  {root.name}: {sum(owners.values())} jobs written in {written - started:.1f} s; "
              f"tracker opened (index built) in {opened - written:.1f} s; "
              f"server healthy in {self.server.wait_healthy():.1f} s")

    def get(self, path: str, owner: str, **params) -> float:
        headers = {"user_token": TOKEN} if owner == TOKEN_OWNER else {}
        start = time.perf_counter()
        response = self.server.http.get(self.server.url.removesuffix("/api/v1") + path, params=params,
                                        headers=headers, timeout=60)
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
        return elapsed

    def requests(self, owner: str) -> dict[str, dict]:
        """The three listing requests for `owner` (newest first: jobs[-1] is the first listed)."""
        jobs = self.jobs[owner]
        deep = jobs[int(len(jobs) * 0.4)]
        return {"first page": {"limit": PAGE},
                "deep page": {"limit": PAGE, "page_token": encode_page_token(deep)},
                "since": {"limit": PAGE, "since": jobs[-100].finished}}


def measure(large: Store, small: Store, samples: int, rng: random.Random) -> dict[str, dict[str, list[float]]]:
    """{operation: {"1k": [ms…], "100k": [ms…]}}, the two sides interleaved in random order."""
    owners = {"100k": ANONYMOUS, "1k": TOKEN_OWNER}
    wanted = {side: large.requests(owner) for side, owner in owners.items()}
    results: dict[str, dict[str, list[float]]] = {op: {"1k": [], "100k": []}
                                                  for op in (*wanted["1k"], "metrics", "health")}
    for _ in range(samples):
        for op in wanted["1k"]:
            sides = list(owners.items())
            rng.shuffle(sides)
            for side, owner in sides:
                results[op][side].append(large.get("/api/v1/jobs", owner, **wanted[side][op]))
        scrapes = [("100k", large), ("1k", small)]
        rng.shuffle(scrapes)
        for side, store in scrapes:
            results["metrics"][side].append(store.get("/metrics", ANONYMOUS))
            results["health"][side].append(store.get("/api/v1/health", ANONYMOUS))
    return results


def report(results: dict[str, dict[str, list[float]]], jobs: int, small_jobs: int) -> None:
    big, little = f"{jobs // 1000}k", f"{small_jobs // 1000}k"
    header = (f"{'request':<12} {'samples':>7} {little + ' p50':>10} {little + ' p95':>10} {big + ' p50':>10} "
              f"{big + ' p95':>10} {'p50 ratio':>10}  target")
    print(header)
    print("-" * len(header))
    for op, by_side in results.items():
        s50, s95 = percentile(by_side["1k"], 50), percentile(by_side["1k"], 95)
        l50, l95 = percentile(by_side["100k"], 50), percentile(by_side["100k"], 95)
        ratio = l50 / s50
        verdict = "MET" if l50 <= TARGET_MS and ratio <= TARGET_RATIO else "MISSED"
        print(f"{op:<12} {len(by_side['100k']):>7} {s50:>8.2f}ms {s95:>8.2f}ms {l50:>8.2f}ms {l95:>8.2f}ms "
              f"{ratio:>9.2f}x  {verdict}")
    print(f"(ratio = {big} / {little}; targets: {big} p50 <= {TARGET_MS:g} ms and ratio <= {TARGET_RATIO:g}x; "
          f"work proportional to the jobs would give ~{jobs / small_jobs:.0f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs of the large owner (default 100000)")
    parser.add_argument("--small-jobs", type=int, default=1_000, help="jobs of the small owner (default 1000)")
    parser.add_argument("--samples", type=int, default=50, help="requests per operation and side (default 50)")
    parser.add_argument("--dir", type=Path, help="create the stores here (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="list-scale-", dir=args.dir))
    print(f"GET /jobs and /metrics: an owner with {args.jobs} jobs vs one with {args.small_jobs}, in {base}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    stores: list[Store] = []
    try:
        stores.append(Store(base / "large", {ANONYMOUS: args.jobs, TOKEN_OWNER: args.small_jobs}, rng))
        stores.append(Store(base / "small", {TOKEN_OWNER: args.small_jobs}, rng))
        print(f"measuring {args.samples} interleaved rounds; load average {os.getloadavg()[0]:.2f}")
        results = measure(*stores, args.samples, rng)
        print(f"done; load average {os.getloadavg()[0]:.2f}\n")
        report(results, args.jobs, args.small_jobs)
    finally:
        for store in stores:
            store.server.stop()
        keep_or_remove(base, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
