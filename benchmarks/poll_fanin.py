"""Status-poll fan-in: many clients polling `*-result` versus what slurmrestd actually sees.

What it measures
----------------
The service answers every status read from one informer cache (service/schedulers/slurm_rest/
informer.py): one background thread lists `GET {api}/jobs?update_time=...` every SLURM_POLL_SECS
and request handlers never call slurmrestd for status. This benchmark checks both halves:

* fan-in  : slurmrestd requests while --clients clients poll as fast as they can. Target: at most
            one job listing per poll interval, whatever the client count;
* cost    : how fast the service answers those result polls, relative to a trivial endpoint of
            the same server measured by the same clients in the same run (so the ratio says what
            the status path itself costs, not how fast this machine is).

Method
------
1. A counting HTTP proxy (threaded, 127.0.0.1, in this process) forwards every request to the real
   slurmrestd (`scripts/local-slurm.sh env`) and records method, path, status and time. The JWT
   headers pass through untouched and are never printed.
2. `python -m service` starts as a subprocess on 127.0.0.1 with SCHEDULER_TYPE=SlurmRestScheduler,
   SLURM_REST_URL=<the proxy>, SLURM_POLL_SECS=--poll-secs (default 5) and every store in a temp
   dir (world-traversable: jobs run as SLURM_JWT_USERNAME).
3. One real FEL job is submitted through the service (upload HyPhy's Drosophila adh NEXUS, which
   embeds its tree, then POST /api/v1/methods/fel-start {"alignment": id, "resample": N}). With
   --resample 10 (default) FEL runs for ~60 s on an idle core, longer while this benchmark loads
   the machine, so the informer lists an active job throughout. The benchmark waits until the
   service reports it `running` (the cluster is shared: a busy node may keep it queued a while;
   it measures anyway after --queue-wait seconds and says so).
4. Result phase: --clients threads (one requests.Session each, one warm-up request, then a common
   start) POST /api/v1/methods/fel-result {same body} back to back for --seconds. Only requests
   that complete inside the window count. The proxy's hits during the window are the slurmrestd
   traffic the polls caused (plus the poller's own listings).
5. Trivial phase: the same clients, for the same duration, against --trivial (default
   `GET /api/v1/methods`: served by the app's full request path - routing, Connexion, the
   handler, JSON - without touching the job tracker or Slurm). `GET /api/v1/health` is not
   trivial with this scheduler: it checks the token and pings slurmrestd (the ping result is
   cached for 5 s, so the proxy shows at most one ping per 5 s). `GET /api/v1/datasets/{id}` (a tracker read) is the other option.
6. Clean-up: DELETE /api/v1/jobs/{id} (cancels the Slurm job, removes its files), then any job of
   this run still active in Slurm is cancelled directly; server and proxy stop; temp dirs go.

Output
------
total result polls, result polls/s, latency p50/p95, the server's CPU seconds per phase; the
slurmrestd requests during the result window by method + path + status (`?update_time=...` marks
incremental listings; a 304 is an unchanged job table); listing calls per poll interval =
listings / (seconds / SLURM_POLL_SECS) (target <= 1; the window may straddle one extra tick, so a
30 s window at 5 s can show 7/6 = 1.17 without anything being wrong); and the ratio
result-poll rate / trivial-endpoint rate. Nothing is asserted.

All processes share this machine's CPUs (clients, server, slurmrestd, the FEL job itself): the
rates are a saturation measurement of the whole box, which is why only the in-run ratio means
much. Clients are Python threads in one process; the server's CPU per request is printed so you
can tell whether the server (one uvicorn worker) or the clients were the bottleneck.

Run:  .venv/bin/python benchmarks/poll_fanin.py [--clients 100] [--seconds 30] [--poll-secs 5]
                                                 [--trivial methods|dataset|health] [--keep]
Needs the local cluster: `bash scripts/local-slurm.sh status` (start is idempotent).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ADH_NEXUS,
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
    work_root,
)

METHOD = "fel"


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hammer(clients: int, seconds: float, make_request) -> dict:
    """`clients` threads call `make_request(session)` back to back for `seconds`; stats."""
    barrier = threading.Barrier(clients + 1)
    results: list[list] = [[] for _ in range(clients)]  # per thread: (latency, status)
    errors: Counter = Counter()
    window: dict[str, float] = {}

    def worker(slot: int) -> None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
        session.mount("http://", adapter)
        try:
            try:
                make_request(session)  # warm-up: connection set up outside the window
            except requests.RequestException:
                pass
            barrier.wait()
            deadline = window["end"]
            mine = results[slot]
            while True:
                sent = now()
                if sent >= deadline:
                    break
                try:
                    status = make_request(session).status_code
                except requests.RequestException as exc:
                    errors[type(exc).__name__] += 1
                    continue
                done = now()
                if done <= deadline:
                    mine.append((done - sent, status))
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    window["start"] = now()  # provisional; reset right at the release
    window["end"] = window["start"] + 10 ** 9
    # every thread has done its warm-up once it reaches the barrier; fix the window, then release
    ready_by = now() + 120
    while barrier.n_waiting < clients:
        if now() > ready_by or not any(thread.is_alive() for thread in threads):
            barrier.abort()
            raise RuntimeError("the client threads did not all get ready (a warm-up request failed?)")
        time.sleep(0.01)
    window["start"] = now()
    window["end"] = window["start"] + seconds
    cpu0 = self_cpu()
    barrier.wait()
    for thread in threads:
        thread.join(seconds + 120)
    flat = [item for per in results for item in per]
    latencies = [lat for lat, _ in flat]
    return {
        "count": len(flat),
        "rate": len(flat) / seconds,
        "statuses": Counter(status for _, status in flat),
        "errors": errors,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "start": window["start"],
        "end": window["end"],
        "client_cpu": self_cpu() - cpu0,
    }


def print_hits(title: str, hits, seconds: float, poll_secs: float) -> int:
    counts = summarize(hits)
    print(f"  {title}: {len(hits)} slurmrestd requests in {seconds:.1f} s")
    for (method, path, status), n in sorted(counts.items()):
        print(f"    {n:6d}  {method:<6} {path:<40} HTTP {status}")
    for error, n in Counter(h.error for h in hits if h.error).items():
        print(f"    {n:6d}  proxy answered 502, upstream failed: {error}")
    listings = sum(n for (method, path, _), n in counts.items() if method == "GET" and path.split("?")[0].endswith("/jobs"))
    intervals = seconds / poll_secs
    print(f"    job listings (GET .../jobs): {listings} in {intervals:.1f} poll intervals -> "
          f"{listings / intervals:.2f} listings per interval (target <= 1)")
    return listings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring for method and output.")
    parser.add_argument("--clients", type=int, default=100, help="concurrent polling clients (default 100)")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each phase (default 30)")
    parser.add_argument("--poll-secs", type=int, default=5, help="the service's SLURM_POLL_SECS (default 5)")
    parser.add_argument("--resample", type=int, default=10,
                        help="FEL bootstrap replicates: the job's length, ~7 s + 5.5 s each on an idle core (default 10)")
    parser.add_argument("--trivial", choices=("methods", "dataset", "health"), default="methods",
                        help="comparison endpoint: GET /methods (default), GET /datasets/{id}, GET /health (pings Slurm)")
    parser.add_argument("--queue-wait", type=float, default=60.0,
                        help="seconds to wait for the job to start running before measuring anyway (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, job dir)")
    args = parser.parse_args(argv)

    env = slurm_env()
    pids = daemon_pids()
    raw = SlurmRaw(env)
    proxy = CountingProxy(env["SLURM_REST_URL"])
    base = work_root("poll-fanin-")
    print(f"poll fan-in: {args.clients} clients x {args.seconds:g} s per phase, SLURM_POLL_SECS={args.poll_secs}, "
          f"FEL resample={args.resample}, trivial endpoint: {args.trivial}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; slurmrestd {env['SLURM_REST_URL']} via "
          f"proxy {proxy.url}; work dir {base}")
    server = Server(base / "service", {**env, "SLURM_REST_URL": proxy.url, "SLURM_POLL_SECS": str(args.poll_secs),
                                       "LOG_LEVEL": "WARNING"})
    job_id = None
    try:
        server.announce()
        dataset = server.upload(ADH_NEXUS.read_bytes(), "adh.nex")
        body = {"alignment": dataset, "resample": args.resample}
        job = server.start(METHOD, body)
        job_id = job["job_id"]
        waited = now()
        status = job["status"]
        while status != "running" and now() - waited < args.queue_wait:
            time.sleep(1)
            status = server.result(METHOD, body)["status"]
            if status in ("completed", "error"):
                raise RuntimeError(f"the FEL job ended ({status}) before the measurement; raise --resample")
        print(f"FEL job {job_id}: {status} after {now() - waited:.1f} s (Slurm jobs in the queue: "
              f"{sum(1 for j in raw.jobs() if j.state in ('PENDING', 'RUNNING'))})")
        if status != "running":
            print("  note: still not running (shared cluster busy?); measuring with a queued job")

        url_result = f"{server.url}/methods/{METHOD}-result"
        trivial_url = {"methods": f"{server.url}/methods", "dataset": f"{server.url}/datasets/{dataset}",
                       "health": f"{server.url}/health"}[args.trivial]

        def poll_result(session):
            return session.post(url_result, json=body, timeout=60)

        def poll_trivial(session):
            return session.get(trivial_url, timeout=60)

        # -- result phase ------------------------------------------------------------------
        print(f"\nresult phase: POST /api/v1/methods/{METHOD}-result ...", flush=True)
        mark0, cpu0 = proxy.mark(), server.cpu()
        res = hammer(args.clients, args.seconds, poll_result)
        cpu_res = server.cpu() - cpu0
        res_hits = [h for h in proxy.between(mark0) if res["start"] <= h.at <= res["end"]]
        after = server.result(METHOD, body)["status"]

        # -- trivial phase -----------------------------------------------------------------
        print(f"trivial phase: GET /api/v1{trivial_url[len(server.url):]} ...", flush=True)
        mark1, cpu1 = proxy.mark(), server.cpu()
        triv = hammer(args.clients, args.seconds, poll_trivial)
        cpu_triv = server.cpu() - cpu1
        triv_hits = [h for h in proxy.between(mark1) if triv["start"] <= h.at <= triv["end"]]

        # -- report ------------------------------------------------------------------------
        print(f"\nFEL job status after the result phase: {after}"
              + ("" if after in ("running", "queued") else "  (ended during the window: raise --resample)"))
        for name, phase, cpu in (("result polls", res, cpu_res), ("trivial requests", triv, cpu_triv)):
            statuses = ", ".join(f"HTTP {s}: {n}" for s, n in sorted(phase["statuses"].items()))
            errors = ", ".join(f"{k}: {n}" for k, n in phase["errors"].items()) or "none"
            print(f"\n{name}: {phase['count']} in {args.seconds:g} s = {phase['rate']:.1f}/s   "
                  f"latency p50 {phase['p50'] * 1000:.1f} ms, p95 {phase['p95'] * 1000:.1f} ms")
            print(f"  statuses: {statuses}; client errors: {errors}")
            per_request = cpu / phase["count"] * 1000 if phase["count"] else float("nan")
            print(f"  server CPU {cpu:.1f} s ({cpu / args.seconds * 100:.0f} % of one core), "
                  f"{per_request:.2f} ms per request; client process CPU {phase['client_cpu']:.1f} s")
        print("\nslurmrestd traffic (through the counting proxy)")
        listings = print_hits("during the result phase", res_hits, args.seconds, args.poll_secs)
        print_hits("during the trivial phase", triv_hits, args.seconds, args.poll_secs)
        print_hits("whole run so far (start-up, upload, submit, both phases)", proxy.between(0),
                   now() - proxy.hits[0].at if proxy.hits else 1.0, args.poll_secs)
        intervals = args.seconds / args.poll_secs
        print("\nSUMMARY")
        print(f"  total result polls:            {res['count']}")
        print(f"  result polls/s:                {res['rate']:.1f}")
        print(f"  trivial ({args.trivial}) requests/s:  {triv['rate']:.1f}")
        print(f"  slurmrestd requests in window: {len(res_hits)} "
              f"({', '.join(f'{m} {p} {s}: {n}' for (m, p, s), n in sorted(summarize(res_hits).items())) or 'none'})")
        print(f"  listing calls per poll interval: {listings} / ({args.seconds:g} / {args.poll_secs}) = "
              f"{listings / intervals:.2f}  (target <= 1)")
        print(f"  result-poll rate / trivial rate: {res['rate'] / triv['rate']:.3f}" if triv["rate"] else
              "  result-poll rate / trivial rate: n/a (no trivial requests)")
        warning = restart_warning(pids)
        if warning:
            print(warning)
    finally:
        if job_id is not None:
            mark = proxy.mark()
            try:
                print(f"\nDELETE /api/v1/jobs/{job_id}: HTTP {server.delete_job(job_id)}; slurmrestd calls it made: "
                      + (", ".join(f"{m} {p} {s}" for m, p, s in (k for k in summarize(proxy.between(mark))))
                         or "none"))
            except requests.RequestException as exc:
                print(f"\nDELETE /api/v1/jobs/{job_id} failed: {type(exc).__name__}")
            try:
                leftover = raw.cancel_named(lambda name: name == f"datamonkey-{job_id}")
                if leftover:
                    print(f"cancelled leftover Slurm job(s) directly: {dict(leftover)}")
            except requests.RequestException as exc:
                print(f"could not check Slurm for leftovers: {type(exc).__name__}")
        code = server.stop()
        proxy.stop()
        raw.close()
        print(f"server stopped (exit {code}; -15 after a graceful SIGTERM is normal), proxy stopped")
        keep_or_remove(base, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
