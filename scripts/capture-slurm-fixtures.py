#!/usr/bin/env python3
"""Record a live slurmrestd's real answers as test fixtures (run by scripts/capture-slurm-fixtures.sh).

    capture-slurm-fixtures.py SUITE CTLD_CONTAINER OUT_ROOT

For every REST API version the running stack serves *and* the service has an adapter for, it sends
the requests the service sends (submit bodies from the adapter's own `submit_body`, paths from the
adapter) and writes each answer, beside the request that produced it, to
OUT_ROOT/<release major.minor>/<version>/<name>.json:

    {"request": {"method", "path", "params", "body"}, "response": {"status", "content_type", "elapsed_ms",
     "body" (parsed JSON, null when not JSON), "text" (only when the body is not JSON)}}

plus OUT_ROOT/<release>/openapi.json (GET /openapi/v3 once, trimmed to every path key and the operations
and schemas the service uses). slurmrestd is reached with `docker exec CTLD curl` (it listens on an
internal network); the token is an HS256 JWT signed with the cluster's key (claims exp, iat, sun).
Nothing is stripped from the bodies; only the token is not recorded. Rerunning overwrites the files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.schedulers.slurm_rest.adapters import ADAPTERS, SubmitRequest  # noqa: E402
from service.schedulers.slurm_rest.discovery import served_versions  # noqa: E402

USER = "datamonkey"
JWT_KEY = "/keys/jwt/jwt_hs256.key"
REST = "http://slurmctld:6820"
UNKNOWN_JOB = 999999
#: What the informer's "no change" poll may see while another job on the cluster changes: retries.
NO_CHANGE_TRIES = 6
#: Names are not the service's `datamonkey-` prefix, so a service running on the stack ignores them.
PREFIX = "fixture-"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.lstrip("v").split("."))


class Rest:
    def __init__(self, ctld: str):
        self.ctld = ctld
        key = subprocess.run(["docker", "exec", ctld, "cat", JWT_KEY], check=True, capture_output=True).stdout
        self.key = key
        self.calls = 0

    def token(self, key: bytes | None = None) -> str:
        now = int(time.time())
        return jwt.encode({"exp": now + 600, "iat": now, "sun": USER}, key or self.key, algorithm="HS256")

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None,
             token: str | None = None) -> dict:
        """One request through curl inside slurmctld → the fixture record."""
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        url = REST + path + (f"?{query}" if query else "")
        cmd = ["docker", "exec", "-i", self.ctld, "curl", "-sS", "-X", method,
               "-w", "\n@@%{http_code} %{time_total} %{content_type}",
               "-H", f"X-SLURM-USER-NAME: {USER}", "-H", f"X-SLURM-USER-TOKEN: {token or self.token()}"]
        data = None
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
            data = json.dumps(body).encode()
        cmd.append(url)
        raw = subprocess.run(cmd, check=True, capture_output=True, input=data).stdout.decode()
        self.calls += 1
        text, _, trailer = raw.rpartition("\n@@")
        code, elapsed, *ctype = trailer.split(" ", 2)
        response: dict[str, Any] = {"status": int(code), "content_type": (ctype[0] if ctype else "").strip(),
                                    "elapsed_ms": round(float(elapsed) * 1000, 1)}
        try:
            response["body"] = json.loads(text)
        except ValueError:
            response["body"] = None
            response["text"] = text
        return {"request": {"method": method, "path": path, "params": params or {}, "body": body},
                "response": response}


def write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


#: The operations the service uses (relative to /slurm/<version>): method → path.
USED_OPERATIONS = {("post", "/job/submit"), ("get", "/jobs"), ("get", "/job/{job_id}"), ("delete", "/job/{job_id}"),
                   ("get", "/ping")}


def _undocumented(node: Any, parent: str = "") -> Any:
    """A schema without its `description` texts (property *names* `description` are kept)."""
    if isinstance(node, dict):
        return {k: _undocumented(v, k) for k, v in node.items()
                if not (k == "description" and isinstance(v, str) and parent != "properties")}
    if isinstance(node, list):
        return [_undocumented(v) for v in node]
    return node


def trim_openapi(record: dict, versions: list[str]) -> dict:
    """Every path key (with its methods), the operations the service uses for `versions`, and the
    schemas those reach (closure over $ref) without their description texts: what validates our
    requests and the recorded bodies."""
    document = record["response"]["body"]
    operations: dict[str, dict] = {}
    for path, item in document["paths"].items():
        parts = path.rstrip("/").split("/")
        if len(parts) > 2 and parts[1] == "slurm" and parts[2] in versions:
            relative = "/" + "/".join(parts[3:])
            for method, operation in item.items():
                if (method, relative) in USED_OPERATIONS:
                    operations.setdefault(path, {})[method] = operation
    schemas = document.get("components", {}).get("schemas", {})
    todo: set[str] = set()
    _refs(operations, todo)
    keep: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in keep or name not in schemas:
            continue
        keep[name] = schemas[name]
        found: set[str] = set()
        _refs(schemas[name], found)
        todo |= found - set(keep)
    body = {"openapi": document.get("openapi"), "info": document.get("info"),
            "paths": {path: sorted(k for k in item if k in ("get", "post", "put", "delete", "patch"))
                      for path, item in document["paths"].items()},
            "operations": operations,
            "components": {"schemas": _undocumented(dict(sorted(keep.items()))),
                           "securitySchemes": document.get("components", {}).get("securitySchemes", {})}}
    response = {**record["response"], "body": body,
                "trimmed": record["response"].get("trimmed") or (
                    f"full document {len(json.dumps(document))} bytes, {len(document['paths'])} paths, "
                    f"{len(schemas)} schemas; kept the {len(keep)} schemas the operations above reach, without "
                    f"their description texts")}
    return {**record, "response": response}


class VersionCapture:
    def __init__(self, rest: Rest, version: str, out: Path, suite: str):
        self.rest = rest
        self.adapter = ADAPTERS[version]()
        self.version = version
        self.base = f"/slurm/{version}"
        self.out = out
        self.tag = f"{PREFIX}{suite}-{version.replace('.', '')}"
        self.submitted: list[int] = []

    def call(self, method: str, path: str, **kwargs) -> dict:
        return self.rest.call(method, self.base + path, **kwargs)

    def update_time(self, since: int) -> int | str:
        """The `update_time` value the adapter sends for "changed after `since`" (an epoch before v0.0.40)."""
        param = getattr(self.adapter, "update_time_param", None)
        return param(since, time.time()) if param else since

    def save(self, name: str, record: dict) -> dict:
        write(self.out / f"{name}.json", record)
        return record

    def request(self, name: str, script: str, **changes) -> SubmitRequest:
        request = SubmitRequest(
            name=f"{self.tag}-{name}", partition="debug", current_working_directory="/tmp",
            environment={"PATH": "/usr/bin:/bin"}, standard_output="/dev/null", standard_error="/dev/null",
            cpus_per_task=1, memory_per_node_mb=100, time_limit_min=5, script=script)
        return replace(request, **changes)

    def submit(self, request: SubmitRequest, name: str | None = None) -> tuple[dict, int | None]:
        record = self.call("POST", self.adapter.submit_path, body=self.adapter.submit_body(request))
        job_id = self.adapter.parse_submit(record["response"]["body"] or {}).job_id
        if job_id is not None:
            self.submitted.append(job_id)
        if name:
            self.save(name, record)
        return record, job_id

    def job(self, job_id: int) -> tuple[dict, Any]:
        record = self.call("GET", self.adapter.job_path(job_id))
        jobs = self.adapter.parse_jobs(record["response"]["body"] or {})
        return record, (jobs[0] if jobs else None)

    def wait(self, job_id: int, done, timeout: float = 60) -> tuple[dict, Any]:
        deadline = time.monotonic() + timeout
        while True:
            record, job = self.job(job_id)
            raw = (record["response"]["body"] or {}).get("jobs") or [{}]
            if job is not None and done(job, raw[0]):
                return record, job
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.version}: job {job_id} did not get there in {timeout} s: {job}")
            time.sleep(0.5)

    def run(self) -> None:
        try:
            self._run()
        finally:
            for job_id in self.submitted:  # nothing of ours stays queued or running
                self.call("DELETE", self.adapter.job_path(job_id))

    def _run(self) -> None:
        a = self.adapter
        ping = self.save("ping", self.call("GET", a.ping_path))
        assert ping["response"]["status"] == 200 and a.ping_ok(ping["response"]["body"]), ping
        # A: runs until cancelled; B: completes; C: exits 3.
        _, running = self.submit(self.request("running", "#!/bin/bash\nsleep 300\n"), "submit_ok")
        _, completed = self.submit(self.request("completed", "#!/bin/bash\nsleep 1\n"))
        _, failed = self.submit(self.request("failed", "#!/bin/bash\nexit 3\n"))
        assert None not in (running, completed, failed), self.submitted
        self.wait(running, lambda j, raw: j.state == "RUNNING")
        final = lambda j, raw: j.state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING") and \
            "COMPLETING" not in (raw.get("job_state") if isinstance(raw.get("job_state"), list) else [])
        self.save("job_completed", self.wait(completed, final)[0])
        self.save("job_failed", self.wait(failed, final)[0])

        # the full table with A running, then "no change" as the informer asks for it
        for attempt in range(NO_CHANGE_TRIES):
            listing = self.call("GET", a.jobs_path)
            body = listing["response"]["body"] or {}
            since = a.parse_last_update(body)
            if since is None:  # no last_update before v0.0.40: the informer sends its own clock
                time.sleep(1.5)
                since = int(time.time())
            unchanged = self.call("GET", a.jobs_path, params={"update_time": self.update_time(since)})
            if unchanged["response"]["status"] == 304 or not (unchanged["response"]["body"] or {}).get("jobs"):
                break
            time.sleep(2)  # something else on the cluster changed in between: list again
        else:
            raise SystemExit(f"{self.version}: every update_time listing had jobs: {unchanged['response']}")
        self.save("jobs", listing)
        self.save("jobs_not_modified", unchanged)
        self.save("job_running", self.job(running)[0])
        self.save("job_not_found", self.call("GET", a.job_path(UNKNOWN_JOB)))

        self.save("cancel_ok", self.call("DELETE", a.job_path(running)))
        self.save("job_cancelled", self.wait(running, final, timeout=30)[0])
        self.save("jobs_changed", self.call("GET", a.jobs_path, params={"update_time": self.update_time(since)}))
        if self.update_time(since) != since:  # what the epoch the informer used to send gets
            self.save("jobs_update_time_epoch", self.call("GET", a.jobs_path, params={"update_time": since}))
        self.save("cancel_not_found", self.call("DELETE", a.job_path(UNKNOWN_JOB)))

        self.submit(self.request("too-many-cpus", "#!/bin/bash\ntrue\n", cpus_per_task=9999), "submit_refused_cpus")
        self.submit(self.request("no-partition", "#!/bin/bash\ntrue\n", partition="nosuchpartition"),
                    "submit_refused_partition")
        bad = self.rest.token(b"not the cluster's key: a badly signed token")
        self.save("auth_failed", self.call("GET", a.jobs_path, token=bad))


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    suite, ctld, out_root = argv[1], argv[2], Path(argv[3])
    started = time.monotonic()
    rest = Rest(ctld)
    openapi = rest.call("GET", "/openapi/v3")
    assert openapi["response"]["status"] == 200, openapi["response"].get("text") or openapi["response"]["body"]
    served = served_versions(openapi["response"]["body"])
    versions = sorted((v for v in served if v in ADAPTERS), key=version_key)
    if not versions:
        print(f"{suite}: slurmrestd serves {sorted(served)}, none with an adapter", file=sys.stderr)
        return 1
    ping = rest.call("GET", f"/slurm/{versions[-1]}/ping")
    release = ADAPTERS[versions[-1]].parse_release(ping["response"]["body"])
    assert release, ping
    minor = ".".join(release.split(".")[:2])
    write(out_root / minor / "openapi.json", trim_openapi(openapi, versions))
    print(f"{suite}: Slurm {release}; serves {', '.join(sorted(served, key=version_key))}; "
          f"capturing {', '.join(versions)} into {out_root / minor}", flush=True)
    for version in versions:
        began = time.monotonic()
        VersionCapture(rest, version, out_root / minor / version, suite).run()
        print(f"  {version}: {time.monotonic() - began:.1f} s", flush=True)
    print(f"{suite}: {rest.calls} requests in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
