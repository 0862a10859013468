"""FileJobTracker at scale: does lookup / job creation stay O(1) as the job count grows?

What it does
------------
1. Builds two trackers in a temporary directory (or under --dir): a small one with
   --small-jobs records (default 1,000) and a large one with --jobs records (default 100,000).
   Every record is a `JobRecord` like `JobService._plan` makes (random 32-hex job id, SHA-256
   request key over owner/method/canonical options/input hashes, canonical options of a real
   registry method, dataset ids, workdir, scheduler, resources), inserted through
   `FileJobTracker.create_or_get` exactly as the service does. Most stored jobs are historical
   (completed / error, with started/finished times); --active-fraction of them (default 1 %)
   are still queued/running, so the `active/` marker folder is realistic too. Owners: the
   shared anonymous user plus a pool of token owners.
   Insertion throughput is printed per chunk so a slowdown with size is visible.
2. Measures on both trackers, interleaved sample by sample (small, large, small, large, ...)
   so that machine noise hits both equally:
     * get(job_id)              random existing job ids      (--lookups samples, default 2000)
     * find_by_key(request_key) random existing request keys (--lookups samples)
     * create_or_get(new job)   a fresh queued record with a new request key, the path of a
                                POST /methods/<m>-start that creates a job (--creates samples,
                                default 500); each new job is deleted again, untimed, so the
                                trackers keep their size.
3. Prints p50 / p95 (milliseconds) per operation and tracker size, the scale ratio
   large/small of the p50 (an O(1) operation gives ~1x; O(n) would give ~100x for 100k vs 1k),
   and whether the targets are met at the large size: lookup p50 <= 1 ms, new-job p50 <= 20 ms.

How to read it
--------------
The machine is shared and noisy, so absolute figures move from run to run; the ratio column
is measured within one run and is the figure to compare. The page cache is warm (records were
just written), which is the steady state of a running service; a cold cache after a reboot
costs one disk read per lookup. Timings never fail the script: it only reports.

--profile cProfiles the insertion of the first --profile-jobs records of the large tracker and
prints the top functions by cumulative time (where insertion time goes).

Run:  .venv/bin/python benchmarks/tracker_scale.py [--jobs 100000] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.methods import get_method
from service.trackers.jobs import (
    COMPLETED,
    ERROR,
    QUEUED,
    RUNNING,
    FileJobTracker,
    JobRecord,
    new_job_id,
    utc_now,
)

LOOKUP_TARGET_MS = 1.0
CREATE_TARGET_MS = 20.0
#: Methods whose canonical options can be built from an alignment id alone (tree embedded).
METHODS = ("fel", "meme", "slac", "fubar", "absrel", "busted", "bgm")


def reuse(old: JobRecord) -> bool:
    """The service's rule (JobService.start): reuse an identical request's job unless it failed."""
    return old.state != ERROR


@dataclass
class JobFactory:
    """Makes records the way JobService._plan does, with a deterministic random source."""

    rng: random.Random
    work_root: str
    owners: list[str]

    def __post_init__(self):
        self.options = {}
        for method_id in METHODS:
            method = get_method(method_id)
            _, options = method.normalize({"alignment": "0" * 32})
            self.options[method_id] = (options, vars(method.resources).copy())

    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def make(self, historical: bool = True, active_fraction: float = 0.0) -> JobRecord:
        method_id = self.rng.choice(METHODS)
        options, resources = self.options[method_id]
        owner = self.rng.choice(self.owners)
        inputs = {"alignment": self._hex(64)}
        key_material = json.dumps({"owner": owner, "method": method_id, "options": options, "inputs": inputs},
                                  sort_keys=True)
        job_id = new_job_id()
        record = JobRecord(
            job_id=job_id, owner=owner, method=method_id,
            request_key=hashlib.sha256(key_material.encode()).hexdigest(),
            options=dict(options), datasets={"alignment": self._hex(32)}, inputs=inputs,
            workdir=f"{self.work_root}/{job_id}", scheduler="LocalScheduler", resources=dict(resources),
        )
        if historical:
            record.native_id = f"local-{job_id}"
            record.started = record.finished = utc_now()
            if self.rng.random() < active_fraction:
                record.state = self.rng.choice((QUEUED, RUNNING))
                record.finished = None
                record.progress = "Obtaining branch lengths and nucleotide rates under the GTR model"
            elif self.rng.random() < 0.05:
                record.state = ERROR
                record.reason = "HyPhy exited with code 1: The input alignment must have the number of sites ..."
            else:
                record.state = COMPLETED
        return record


def build(root: Path, n: int, factory: JobFactory, active_fraction: float, label: str,
          profile_jobs: int = 0) -> tuple[FileJobTracker, list[str], list[str], float]:
    """Insert n historical jobs; returns the tracker, its job ids and request keys, seconds taken."""
    tracker = FileJobTracker(root)
    ids: list[str] = []
    keys: list[str] = []
    chunk = max(1, n // 10)
    profiler = cProfile.Profile() if profile_jobs else None
    start = last = time.perf_counter()
    for i in range(n):
        record = factory.make(historical=True, active_fraction=active_fraction)
        if profiler is not None and i < profile_jobs:
            profiler.enable()
            tracker.create_or_get(record, reuse)
            profiler.disable()
        else:
            tracker.create_or_get(record, reuse)
        ids.append(record.job_id)
        keys.append(record.request_key)
        if (i + 1) % chunk == 0 and n >= 10_000:
            now = time.perf_counter()
            print(f"  [{label}] {i + 1:>7} jobs  {chunk / (now - last):7.0f} inserts/s in this chunk  "
                  f"elapsed {now - start:6.1f} s", flush=True)
            last = now
    elapsed = time.perf_counter() - start
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(f"\n--- cProfile of the first {min(profile_jobs, n)} inserts ({label}), by cumulative time ---")
        print(out.getvalue())
    return tracker, ids, keys, elapsed


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn, *args) -> float:
    t = time.perf_counter_ns()
    fn(*args)
    return (time.perf_counter_ns() - t) / 1e6


def measure(small, large, lookups: int, creates: int, factory: JobFactory, rng: random.Random):
    """Interleaved samples (small, large in random order each round); returns {op: {"small": [ms...], "large": [ms...]}}."""
    results = {op: {"small": [], "large": []} for op in ("get", "find_by_key", "create_or_get (new job)")}
    pairs = {"small": small, "large": large}

    def order():  # alternate which size goes first, so neither always runs right after the other
        items = list(pairs.items())
        return items if rng.random() < 0.5 else items[::-1]

    for _ in range(lookups):
        for size, (tracker, ids, _keys) in order():
            job_id = rng.choice(ids)
            results["get"][size].append(timed(tracker.get, job_id))
    for _ in range(lookups):
        for size, (tracker, _ids, keys) in order():
            key = rng.choice(keys)
            results["find_by_key"][size].append(timed(tracker.find_by_key, key))
    for _ in range(creates):
        for size, (tracker, _ids, _keys) in order():
            record = factory.make(historical=False)  # queued, as JobService._plan makes it
            t = time.perf_counter_ns()
            job, created = tracker.create_or_get(record, reuse)
            results["create_or_get (new job)"][size].append((time.perf_counter_ns() - t) / 1e6)
            assert created and job.job_id == record.job_id
            tracker.delete(record.job_id)  # untimed: keep the tracker at its size
    return results


def sanity(tracker: FileJobTracker, ids: list[str], keys: list[str]) -> None:
    """A benchmark of wrong answers is worthless: spot-check that lookups return the right job."""
    for i in random.Random(7).sample(range(len(ids)), min(50, len(ids))):
        assert tracker.get(ids[i]).job_id == ids[i]
        assert tracker.find_by_key(keys[i]).job_id == ids[i]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring for how to read the output.")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the large tracker (default 100000)")
    parser.add_argument("--small-jobs", type=int, default=1_000, help="jobs in the baseline tracker (default 1000)")
    parser.add_argument("--lookups", type=int, default=2000, help="samples per lookup operation (default 2000)")
    parser.add_argument("--creates", type=int, default=500, help="new-job samples (default 500)")
    parser.add_argument("--owners", type=int, default=200, help="distinct token owners besides 'anonymous' (default 200)")
    parser.add_argument("--active-fraction", type=float, default=0.01,
                        help="share of stored jobs still queued/running (default 0.01)")
    parser.add_argument("--dir", type=Path, help="create the trackers here (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the trackers afterwards")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the first --profile-jobs inserts")
    parser.add_argument("--profile-jobs", type=int, default=5000)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="tracker-scale-", dir=args.dir))
    owners = ["anonymous"] * args.owners + [f"u{uuid.UUID(int=rng.getrandbits(128)).hex}{rng.getrandbits(32):08x}"
                                             for _ in range(args.owners)]
    factory = JobFactory(rng, str(base / "jobs"), owners)
    print(f"FileJobTracker scale benchmark: {args.small_jobs} vs {args.jobs} jobs in {base}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    try:
        small, s_ids, s_keys, s_secs = build(base / "small", args.small_jobs, factory, args.active_fraction, "small")
        print(f"inserted {args.small_jobs} jobs in {s_secs:.1f} s ({args.small_jobs / s_secs:.0f}/s)")
        large, l_ids, l_keys, l_secs = build(base / "large", args.jobs, factory, args.active_fraction, "large",
                                             args.profile_jobs if args.profile else 0)
        print(f"inserted {args.jobs} jobs in {l_secs:.1f} s ({args.jobs / l_secs:.0f}/s, "
              f"{l_secs / args.jobs * 1000:.2f} ms per insert)")
        sanity(small, s_ids, s_keys)
        sanity(large, l_ids, l_keys)

        print(f"measuring (interleaved small/large): {args.lookups} lookups, {args.creates} creates; "
              f"load average {os.getloadavg()[0]:.2f}")
        res = measure((small, s_ids, s_keys), (large, l_ids, l_keys), args.lookups, args.creates, factory, rng)
        print(f"done; load average {os.getloadavg()[0]:.2f}\n")

        n_s, n_l = f"{args.small_jobs // 1000}k" if args.small_jobs >= 1000 else str(args.small_jobs), \
            f"{args.jobs // 1000}k" if args.jobs >= 1000 else str(args.jobs)
        header = (f"{'operation':<24} {'samples':>7} {n_s + ' p50':>10} {n_s + ' p95':>10} "
                  f"{n_l + ' p50':>10} {n_l + ' p95':>10} {'p50 ratio':>10} {'p95 ratio':>10}")
        print(header)
        print("-" * len(header))
        for op, by_size in res.items():
            s50, s95 = pct(by_size["small"], 0.5), pct(by_size["small"], 0.95)
            l50, l95 = pct(by_size["large"], 0.5), pct(by_size["large"], 0.95)
            print(f"{op:<24} {len(by_size['large']):>7} {s50:>8.3f}ms {s95:>8.3f}ms {l50:>8.3f}ms {l95:>8.3f}ms "
                  f"{l50 / s50:>9.2f}x {l95 / s95:>9.2f}x")
        print(f"(ratio = {n_l} / {n_s}; O(1) gives ~1x, O(n) would give ~{args.jobs / args.small_jobs:.0f}x)\n")

        print(f"targets at {args.jobs} jobs:")
        checks = [("get p50", pct(res["get"]["large"], 0.5), LOOKUP_TARGET_MS),
                  ("find_by_key p50", pct(res["find_by_key"]["large"], 0.5), LOOKUP_TARGET_MS),
                  ("new job p50", pct(res["create_or_get (new job)"]["large"], 0.5), CREATE_TARGET_MS)]
        for name, value, target in checks:
            verdict = "MET" if value <= target else "MISSED"
            print(f"  {name:<16} {value:8.3f} ms  target <= {target:g} ms  {verdict}")
        print(f"  insertion of {args.jobs} jobs: {l_secs:.1f} s")
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            t = time.perf_counter()
            shutil.rmtree(base, ignore_errors=True)
            print(f"removed {base} ({time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
