"""Helpers shared by the service benchmarks (e2e_overhead.py, poll_fanin.py, submit_throughput.py).

* `Server`       : `python -m service` as a subprocess on 127.0.0.1, every store in a temp dir,
                   configured from the environment plus overrides (e.g. the local Slurm cluster,
                   or LOCAL_MAX_CONCURRENT_JOBS=1 for the local scheduler).
* `CountingProxy`: a threaded HTTP proxy on 127.0.0.1 that forwards every request to slurmrestd
                   and records (method, path, status, time) of each; header values (the JWT) are
                   passed through untouched and never printed.
* `SlurmRaw`     : direct slurmrestd calls (submit / list / cancel) with a token minted by the
                   service's own `SlurmJWTManager` from the cluster's key file.
* `slurm_env()`  : `scripts/local-slurm.sh env`, the settings that point the service at the
                   local cluster.
* `keep_or_remove()`: the end of every run: keep the work dir (--keep) or delete it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOCAL_SLURM = ROOT / "scripts/local-slurm.sh"
SLURM_RUN_DIR = Path("/run/datamonkey-slurm")
HYPHY_ROOT = Path("/usr/share/hyphy")
ADH_NEXUS = HYPHY_ROOT / "TemplateBatchFiles/Miscellaneous/phylohandbook/datasets/Drosophilia_adh.nex"
ADH_FASTA = ROOT / "tests/fixtures/adh.fasta"
ADH_TREE = "(MEL,MA,(ERE,((SIL,DIF),AFF)));"


def now() -> float:
    return time.perf_counter()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def process_cpu(pid: int) -> float:
    """utime + stime of a running process in seconds (/proc/<pid>/stat fields 14, 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slurm_env() -> dict[str, str]:
    """`scripts/local-slurm.sh env` as a dict (raises when the script fails)."""
    out = subprocess.run(["bash", str(LOCAL_SLURM), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def daemon_pids() -> dict[str, str]:
    """pid of each local Slurm daemon from its pid file in /run/datamonkey-slurm (the cluster is
    shared: other tests restart daemons; a pid that changed during a run means it was disturbed)."""
    pids = {}
    for name in ("slurmctld", "slurmrestd", "slurmd"):
        try:
            pids[name] = (SLURM_RUN_DIR / f"{name}.pid").read_text().split()[0]
        except (OSError, IndexError):
            pids[name] = "?"
    return pids


def restart_warning(before: dict[str, str]) -> str:
    """'' when no Slurm daemon was restarted since `before` (daemon_pids()), else a warning."""
    after = daemon_pids()
    changed = [name for name in before if before[name] != after.get(name)]
    if not changed:
        return ""
    return (f"WARNING: {', '.join(changed)} restarted during this run (pid changed; the cluster is shared): "
            f"figures are disturbed, rerun")


def work_root(prefix: str) -> Path:
    """A world-traversable temp dir: Slurm jobs run as SLURM_JWT_USERNAME and must reach their job
    directories below it (mkdtemp makes 0700 dirs)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    return root


def keep_or_remove(base: Path, keep: bool, indent: str = "") -> None:
    """Print that `base` was kept (`keep`, the scripts' --keep), else delete it silently."""
    if keep:
        print(f"{indent}kept {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


def tiny_fasta() -> bytes:
    """The adh alignment cut to its first 30 codons with the tree appended (FEL: ~2 s)."""
    records = ADH_FASTA.read_text().split(">")[1:]
    out = []
    for record in records:
        name, *sequence = record.strip().splitlines()
        out.append(f">{name}\n{''.join(sequence)[:90]}\n")
    return ("".join(out) + ADH_TREE + "\n").encode()


# -- the service -----------------------------------------------------------------------------
class Server:
    """`python -m service` on 127.0.0.1 with its stores under `base`, extra env in `env`."""

    def __init__(self, base: Path, env: dict[str, str] | None = None):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.work = base / "jobs"
        full_env = dict(os.environ)
        full_env.update({
            "SERVICE_DATAMONKEY_PORT": str(self.port),
            "SERVICE_HOST": "127.0.0.1",
            "DATASET_LOCATION": str(base / "datasets"),
            "JOB_TRACKER_LOCATION": str(base / "job-tracker"),
            "JOB_WORK_LOCATION": str(self.work),
            "SESSION_LOCATION": str(base / "sessions"),
        })
        full_env.update(env or {})
        self.log_path = base / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-m", "service"], cwd=ROOT, env=full_env,
                                        stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = requests.Session()

    def wait_healthy(self, timeout: float = 60.0, interval: float = 0.2, request_timeout: float = 10.0) -> float:
        """Seconds until GET /health answered 200, polled every `interval` s (each request may take
        `request_timeout` s: with Slurm the health check pings slurmrestd)."""
        start = now()
        while now() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; log: {self.log_path}")
            try:
                if self.http.get(f"{self.url}/health", timeout=request_timeout).status_code == 200:
                    return now() - start
            except requests.ConnectionError:
                pass
            time.sleep(interval)
        raise RuntimeError(f"server not healthy after {timeout} s; log: {self.log_path}")

    def announce(self, **wait_options: float) -> None:
        """wait_healthy(**wait_options), then print the server's pid, port and start-up time."""
        print(f"server pid {self.process.pid} on 127.0.0.1:{self.port}, healthy after "
              f"{self.wait_healthy(**wait_options):.1f} s")

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def upload(self, content: bytes, name: str, http: requests.Session | None = None) -> str:
        meta = {"name": name, "type": "alignment", "description": "benchmark"}
        response = (http or self.http).post(f"{self.url}/datasets", files={"file": (name, content)},
                                            data={"meta": json.dumps(meta)}, timeout=60)
        if response.status_code != 201:
            raise RuntimeError(f"upload failed: {response.status_code} {response.text[:500]}")
        return response.json()["datasets"][0]["id"]

    def start(self, method: str, body: dict, http: requests.Session | None = None) -> dict:
        response = (http or self.http).post(f"{self.url}/methods/{method}-start", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"{method}-start failed: {response.status_code} {response.text[:500]}")
        return response.json()

    def result(self, method: str, body: dict) -> dict:
        response = self.http.post(f"{self.url}/methods/{method}-result", json=body, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"{method}-result failed: {response.status_code} {response.text[:500]}")
        return response.json()

    def delete_job(self, job_id: str) -> int:
        return self.http.delete(f"{self.url}/jobs/{job_id}", timeout=60).status_code

    def stop(self) -> int | None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


# -- the counting proxy ----------------------------------------------------------------------
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                         "transfer-encoding", "upgrade", "host", "content-length"})


@dataclass(frozen=True)
class Hit:
    at: float          # perf_counter when the request arrived
    method: str
    path: str          # without the query string
    query: str
    status: int
    seconds: float     # upstream round trip
    error: str = ""    # why the proxy answered 502 (upstream unreachable), else ""


class CountingProxy:
    """Threaded HTTP/1.1 proxy on 127.0.0.1 forwarding to `upstream` (http://host:port)."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # one write per response and no Nagle: otherwise headers and body go out in two
            # segments and delayed ACKs add ~40 ms to every proxied call
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *_args):  # quiet
                pass

            def _forward(self):
                arrived = now()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                path, _, query = self.path.partition("?")
                try:
                    conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    upstream = conn.getresponse()
                    payload = upstream.read()
                    status, reason, reply_headers = upstream.status, upstream.reason, upstream.getheaders()
                    conn.close()
                    error = ""
                except (OSError, http.client.HTTPException) as exc:
                    status, reason, reply_headers = 502, "Bad Gateway", [("Content-Type", "text/plain")]
                    error = f"{type(exc).__name__}: {exc}"
                    payload = f"proxy: upstream failed: {error}".encode()
                proxy._record(Hit(arrived, self.command, path, query, status, now() - arrived, error))
                self.send_response(status, reason)
                for key, value in reply_headers:
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                if status >= 200 and status not in (204, 304):
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if status >= 200 and status not in (204, 304) and self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="counting-proxy", daemon=True)
        self._thread.start()

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def mark(self) -> int:
        """An index into the hit list: hits after it happened after this call."""
        with self._lock:
            return len(self.hits)

    def between(self, start: int, end: int | None = None) -> list[Hit]:
        with self._lock:
            return list(self.hits[start:end])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def summarize(hits: list[Hit]) -> Counter:
    """Counts by (method, normalized path, status); numeric path segments become {id}."""
    def norm(path: str) -> str:
        return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))
    return Counter((h.method, norm(h.path) + ("?update_time=…" if "update_time=" in h.query else ""), h.status)
                   for h in hits)


# -- slurmrestd directly ---------------------------------------------------------------------
class SlurmRaw:
    """slurmrestd calls made by the benchmark itself (not through the service), in the REST API
    version the service would speak (SLURM_REST_API_PATH, `auto` read from /openapi/v3), through
    that version's adapter: the same request bodies, parsed the same way."""

    def __init__(self, env: dict[str, str], base_url: str | None = None):
        from service.schedulers.slurm_rest.token import SlurmJWTManager
        from service.schedulers.slurm_rest.client import SlurmRestClient
        from service.schedulers.slurm_rest.discovery import ApiVersion

        root = (base_url or env["SLURM_REST_URL"]).rstrip("/")
        self.partition = env["SLURM_QUEUE_NAME"]
        self.jwt = SlurmJWTManager(Path(env["SLURM_JWT_KEY_PATH"]), env["SLURM_JWT_USERNAME"], lifetime_secs=3600)
        self.http = requests.Session()
        # the service's own client settles the version (reads /openapi/v3 for `auto`); calls stay raw
        api = ApiVersion(env.get("SLURM_REST_API_PATH") or "auto")
        self.adapter = SlurmRestClient(root, api, self.jwt, session=self.http).adapter
        self.base = f"{root}/slurm/{self.adapter.version}"

    def submit(self, name: str, script: str, cwd: str, *, cpus: int = 1, memory_mb: int = 1024,
               time_limit_min: int = 120, http: requests.Session | None = None) -> int:
        from service.schedulers.slurm_rest.adapters import SubmitRequest

        body = self.adapter.submit_body(SubmitRequest(
            name=name, partition=self.partition, current_working_directory=cwd,
            environment={"PATH": "/usr/bin:/bin"}, standard_output="/dev/null", standard_error="/dev/null",
            cpus_per_task=cpus, memory_per_node_mb=memory_mb, time_limit_min=time_limit_min, script=script))
        response = (http or self.http).post(f"{self.base}/job/submit", json=body, headers=self.jwt.headers(),
                                            timeout=60)
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        result = self.adapter.parse_submit(payload)
        errors = [e for e in result.errors if e.code != 2068]  # 2068: nodes busy, the job waits: fine
        if response.status_code != 200 or errors or result.job_id is None:
            raise RuntimeError(f"raw submit failed: HTTP {response.status_code}: {response.text[:300]}")
        return result.job_id

    def jobs(self) -> list[Any]:
        """Every job slurmrestd lists, as the adapters' SlurmJob (name, state, ...)."""
        response = self.http.get(f"{self.base}/jobs", headers=self.jwt.headers(), timeout=60)
        response.raise_for_status()
        return self.adapter.parse_jobs(response.json())

    def cancel(self, slurm_id: int) -> int:
        return self.http.delete(f"{self.base}/job/{int(slurm_id)}", headers=self.jwt.headers(), timeout=60).status_code

    def cancel_named(self, predicate) -> Counter:
        """Cancel every job still PENDING/RUNNING/SUSPENDED whose name satisfies `predicate`;
        counts by the state it was in."""
        active = ("PENDING", "RUNNING", "SUSPENDED", "REQUEUED", "RESIZING")
        cancelled: Counter = Counter()
        for job in self.jobs():
            if predicate(job.name) and job.state in active:
                self.cancel(job.job_id)
                cancelled[job.state] += 1
        return cancelled

    def close(self) -> None:
        self.http.close()
