"""A stateful fake slurmrestd, as a `requests` transport adapter mounted on the client's session.

It keeps a job table and answers in the wire format of one REST API version: every answer is a body recorded
from a live daemon (tests/fixtures/slurmrestd/<release>/<version>/, see its README) with only the job ids,
job records and times put in; v0.0.39, which no Debian release ships, answers with its schema-built bodies
(tests/fixtures/slurmrestd/v0.0.39/). Job records are the recorded ones with our fields written in the shape
the recording has them (plain integers or `{set, infinite, number}`, a state string or list, a raw wait status
or the verbose exit code object). Submit bodies are checked against the schema the version serves.

What it does, as the real daemon did when recorded:
* `GET /openapi/v3`: the release's OpenAPI document, listing this version as the newest (discovery picks it).
* `POST /job/submit`: queues the job; an unknown partition is refused and a job needing more CPUs than a
  node has gets the release's answer to that (22.05 and 26.05 queue it with error 2015, 24.11 refuses it).
* `GET /jobs` (honouring `update_time`: "no change" when nothing changed since, in the version's form; v0.0.40
  and v0.0.41 refuse an epoch and take "now-<N>seconds"), `GET /job/{id}`, `DELETE /job/{id}`, `GET /ping`.
* refused tokens get the version's refusal: 22.05 a fast 500 (-1 on reads, 5005 on submit/cancel), 23.02+
  511 with 1007; 26.05 pings with a refused token answer 200, controller not responding.

Not recorded, so taken from elsewhere: 22.05's 5005 refusal of submit/cancel (slurmrestd-22.05 reference §2,
as client.py reads it); 26.05's 200 ping for a refused token (seen live, scheduler.py); v0.0.39's refusals,
cancel answers and 2000 (its own error entry and envelope, 22.05's statuses, 23.02+'s 511); a cancel of a job
that already ended is answered as a successful one.

Tests drive it: `add_job`, `set_state`, `requeue`, `purge` change the table; `refuse_token`, `go_unreachable`,
`lose_next_answer`, `before_next` inject failures; `calls` lists what the client sent.
"""

from __future__ import annotations

import copy
import http
import json
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import jsonschema
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slurmrestd"
URL = "http://slurm.test:6820"
OPENAPI_PATH = "/openapi/v3"
#: The release whose live capture each version answers like (None: v0.0.39's schema-built bodies).
RELEASE_OF = {"v0.0.37": "22.05", "v0.0.38": "22.05", "v0.0.39": None, "v0.0.40": "24.11", "v0.0.41": "24.11",
              "v0.0.42": "24.11", "v0.0.43": "26.05", "v0.0.44": "26.05", "v0.0.45": "26.05"}
FINAL_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                          "DEADLINE", "OUT_OF_MEMORY"})


# -- the recorded material ---------------------------------------------------------------------
def record(release: str, version: str, name: str) -> dict:
    """One recorded exchange, {"request": …, "response": {"status", "body", "text", …}}."""
    return json.loads((FIXTURES / release / version / f"{name}.json").read_text())


@lru_cache(maxsize=None)
def openapi(release: str) -> dict:
    """The release's (trimmed) OpenAPI document as `GET /openapi/v3` answered it."""
    return record(release, ".", "openapi")["response"]["body"]


def operation(release: str, version: str, method: str, path: str) -> dict:
    """The served OpenAPI operation for `path` (relative to the version; 23.02+ spell some with a
    trailing slash)."""
    operations = openapi(release)["operations"]
    for candidate in (f"/slurm/{version}{path}", f"/slurm/{version}{path}/"):
        if candidate in operations:
            return operations[candidate][method]
    raise KeyError(f"{release} serves no {method.upper()} /slurm/{version}{path}")


def without_path_requirements(node: Any) -> Any:
    """Slurm's generated schemas list some nested fields as required by path ("cpus/count" beside a `cpus`
    object property, v0.0.41+ `job_resources`), which no body can satisfy: those entries are dropped."""
    if isinstance(node, dict):
        return {k: ([r for r in v if "/" not in r] if k == "required" and isinstance(v, list)
                    else without_path_requirements(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [without_path_requirements(v) for v in node]
    return node


def schema_validator(components: dict, ref: dict) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator({**ref, "components": without_path_requirements(components)})


@lru_cache(maxsize=None)
def submit_validator(version: str) -> jsonschema.Draft7Validator:
    """The schema of the version's submit body, as its release serves it."""
    release = RELEASE_OF[version]
    if release is None:
        trimmed = json.loads((FIXTURES / version / "openapi-trimmed.json").read_text())["components"]
        return schema_validator(trimmed, {"$ref": f"#/components/schemas/{version}_job_submission"})
    ref = operation(release, version, "post", "/job/submit")["requestBody"]["content"]["application/json"]["schema"]
    return schema_validator(openapi(release)["components"], ref)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    text: str = ""

    def with_body(self, body: Any) -> "Answer":
        return Answer(self.status, body, self.text)


class Recording:
    """One version's recorded answers, as templates (always handed out as copies)."""

    def __init__(self, version: str, release: str | None):
        self.version, self.release = version, release
        self.directory = FIXTURES / release / version if release else FIXTURES / version

    def answer(self, name: str) -> Answer | None:
        path = self.directory / f"{name}.json"
        if not path.exists():
            return None
        loaded = json.loads(path.read_text())
        if self.release is None:  # schema-built: the bare body of a 200 (v0.0.39's README)
            return Answer(200, loaded)
        response = loaded["response"]
        return Answer(response["status"], response["body"], response.get("text") or "")

    def body(self, name: str) -> Any:
        return copy.deepcopy(self.answer(name).body)

    @property
    def job_record(self) -> dict:
        name = "job_running" if self.release else "jobs"
        return copy.deepcopy(self.answer(name).body["jobs"][0])

    @property
    def envelope(self) -> dict:
        """`meta`, `errors`, `warnings` of the version's answers."""
        return {k: v for k, v in self.body("submit_ok").items() if k in ("meta", "errors", "warnings")}

    def error_answer(self, status: int, *errors: dict) -> Answer:
        """An answer carrying Slurm errors, in the envelope the version's recordings have; only for answers no
        recording of this version holds (v0.0.39's refusals)."""
        return Answer(status, {**self.envelope, "errors": list(errors)})


# -- the job table -----------------------------------------------------------------------------
@dataclass
class FakeJob:
    job_id: int
    name: str
    state: str = "PENDING"
    #: State flags after the base state (["PENDING", "REQUEUED"]); 22.05 reports the first instead of the base.
    flags: tuple[str, ...] = ()
    reason: str = "None"
    #: Raw wait status (768: exit 3; 15: SIGTERM); None: not set yet.
    exit_code: int | None = 0
    submit_time: int = 0
    start_time: int = 0
    end_time: int = 0
    time_limit: int = 60
    partition: str = "debug"
    user_name: str = "dm"
    restart_cnt: int = 0
    cpus_per_task: int = 1
    memory_per_node: int = 900
    current_working_directory: str = "/tmp"
    standard_output: str = "/dev/null"
    standard_error: str = "/dev/null"
    environment: dict[str, str] = field(default_factory=dict)
    script: str = ""


@dataclass(frozen=True)
class Call:
    """One request the client sent: `path` relative to the version's base path (or /openapi/v3)."""

    method: str
    path: str
    params: dict[str, str]
    user: str
    token: str
    body: Any


def _wrapped(number: int | None) -> dict:
    return {"set": number is not None, "infinite": False, "number": number or 0}


def _like(template: Any, number: int | None) -> Any:
    """`number` in the shape `template` has: `{set, infinite, number}` or a plain integer."""
    return _wrapped(number) if isinstance(template, dict) else (number or 0)


def _exit_code_like(template: Any, raw: int | None) -> Any:
    """A raw wait status as the version reports it: plain, wrapped, or the verbose object (as recorded:
    SUCCESS/ERROR with return_code, SIGNALED with the signal; PENDING before there is one)."""
    if not (isinstance(template, dict) and "status" in template):
        return _like(template, raw)
    unset = _wrapped(None)
    if raw is None:
        return {"status": ["PENDING"], "return_code": unset, "signal": {"id": unset, "name": ""}}
    if raw & 0x7F:
        number = raw & 0x7F
        return {"status": ["SIGNALED"] + (["CORE_DUMPED"] if raw & 0x80 else []), "return_code": unset,
                "signal": {"id": _wrapped(number), "name": signal.Signals(number).name.removeprefix("SIG")}}
    code = raw >> 8
    return {"status": ["SUCCESS" if code == 0 else "ERROR"], "return_code": _wrapped(code),
            "signal": {"id": unset, "name": ""}}


class FakeSlurmrestd(BaseAdapter):
    """slurmrestd serving REST API `version`, with one partition (`partitions`) of `node_cpus`-CPU nodes."""

    def __init__(self, version: str, *, clock: Callable[[], float] = time.time, url: str = URL,
                 release: str | None = None, partitions: tuple[str, ...] = ("debug",), node_cpus: int = 8,
                 first_job_id: int = 6):
        super().__init__()
        self.version = version
        self.release = release or RELEASE_OF[version]
        self.recording = Recording(version, self.release)
        self.url = url.rstrip("/")
        self.clock = clock
        self.partitions = partitions
        self.node_cpus = node_cpus
        self.jobs: dict[int, FakeJob] = {}
        self.next_job_id = first_job_id
        #: Epoch second of the last change to the job table (what `update_time` is compared with).
        self.changed_at = 0
        self.calls: list[Call] = []
        self.refused_tokens: set[str] = set()
        self.refuse_every_token = False
        self.controller_responding = True
        self.unreachable: Exception | None = None
        self._lost: list[tuple[str, str, bool]] = []
        self._before: list[tuple[str, str, Callable[[], None]]] = []
        self._lock = threading.RLock()

    # -- driving it --------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """A session whose requests to this slurmrestd go to the fake."""
        session = requests.Session()
        session.mount(self.url, self)
        return session

    def now(self) -> int:
        return int(self.clock())

    def add_job(self, name: str, **fields: Any) -> FakeJob:
        """A job the cluster has (submitted by anyone): `job_id` the next free one unless given."""
        with self._lock:
            job_id = fields.pop("job_id", None) or self.next_job_id
            self.next_job_id = max(self.next_job_id, job_id + 1)
            fields.setdefault("submit_time", self.now())
            job = self.jobs[job_id] = FakeJob(job_id=job_id, name=name, **fields)
            self._changed()
            return job

    def set_state(self, job_id: int, state: str, *, flags: tuple[str, ...] = (), **fields: Any) -> FakeJob:
        """Move a job on: RUNNING sets its start time, a final state its end time (on the fake's clock)."""
        with self._lock:
            job = self.jobs[job_id]
            job.state, job.flags = state, tuple(flags)
            if state == "RUNNING" and not job.start_time:
                job.start_time = self.now()
            if state in FINAL_STATES and not job.end_time:
                job.end_time = self.now()
            for name, value in fields.items():
                setattr(job, name, value)
            self._changed()
            return job

    def requeue(self, job_id: int) -> FakeJob:
        """`scontrol requeue` as 22.05 showed it: same id and name, PENDING/BeginTime, a later submit time,
        restart_cnt + 1."""
        job = self.jobs[job_id]
        return self.set_state(job_id, "PENDING", flags=("REQUEUED",), reason="BeginTime", start_time=0,
                              end_time=0, submit_time=max(self.now(), job.submit_time + 1),
                              restart_cnt=job.restart_cnt + 1)

    def purge(self, job_id: int) -> None:
        """slurmctld forgets a finished job (MinJobAge, ~5 min after it ended)."""
        with self._lock:
            del self.jobs[job_id]
            self._changed()

    def refuse_token(self, *tokens: str) -> None:
        self.refused_tokens.update(tokens)

    def go_unreachable(self, error: Exception | None = None) -> None:
        """Every request fails at the transport (ConnectionError unless `error` says otherwise)."""
        self.unreachable = error or requests.exceptions.ConnectionError("connection refused (fake slurmrestd)")

    def come_back(self) -> None:
        self.unreachable = None

    def lose_next_answer(self, method: str, path: str, *, performed: bool = True) -> None:
        """The next `method path` fails with a lost connection: after slurmctld acted on it (`performed`),
        or before it arrived."""
        self._lost.append((method.upper(), path, performed))

    def before_next(self, method: str, path: str, action: Callable[[], None]) -> None:
        """Run `action` when the next `method path` is sent, before anything else (even an outage) answers it."""
        self._before.append((method.upper(), path, action))

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for c in self.calls if c.method == method and (path is None or c.path == path))

    # -- the transport -----------------------------------------------------------------------
    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        with self._lock:
            call = self._call(request)
            self.calls.append(call)
            for hook in [h for h in self._before if h[:2] == (call.method, call.path)][:1]:
                self._before.remove(hook)
                hook[2]()
            if self.unreachable is not None:
                raise self.unreachable
            lost = next((entry for entry in self._lost if entry[:2] == (call.method, call.path)), None)
            if lost is not None:
                self._lost.remove(lost)
                if lost[2]:
                    self._answer(call)
                raise requests.exceptions.ConnectionError(f"connection lost during {call.method} {call.path}")
            return self._response(request, self._answer(call))

    def close(self) -> None:
        pass

    def _call(self, request) -> Call:
        parts = urlsplit(request.url)
        assert f"{parts.scheme}://{parts.netloc}" == self.url, request.url
        base = f"/slurm/{self.version}"
        if parts.path == OPENAPI_PATH:
            path = OPENAPI_PATH
        else:
            assert parts.path.startswith(base + "/"), f"fake slurmrestd serves {base}, not {parts.path}"
            path = parts.path[len(base):].rstrip("/")  # slurmrestd matches path components
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = json.loads(request.body) if request.body else None
        return Call(request.method.upper(), path, params, request.headers.get("X-SLURM-USER-NAME", ""),
                    request.headers.get("X-SLURM-USER-TOKEN", ""), body)

    def _response(self, request, answer: Answer) -> requests.Response:
        response = requests.Response()
        response.status_code = answer.status
        response.reason = http.HTTPStatus(answer.status).phrase
        response.headers = CaseInsensitiveDict()
        if answer.body is not None:
            response.headers["Content-Type"] = "application/json"
            response._content = json.dumps(answer.body).encode()
        else:
            response._content = answer.text.encode()
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.connection = self
        return response

    # -- answers -----------------------------------------------------------------------------
    def _answer(self, call: Call) -> Answer:
        if self.refuse_every_token or call.token in self.refused_tokens:
            return self._refusal(call)
        if call.path == OPENAPI_PATH:
            return self._openapi()
        if call.path == "/ping":
            return self._ping()
        if (call.method, call.path) == ("POST", "/job/submit"):
            return self._submit(call)
        if (call.method, call.path) == ("GET", "/jobs"):
            return self._listing(call.params.get("update_time"))
        match = re.fullmatch(r"/job/(\d+)", call.path)
        if match and call.method == "GET":
            return self._show(int(match.group(1)))
        if match and call.method == "DELETE":
            return self._cancel(int(match.group(1)))
        raise AssertionError(f"fake slurmrestd has no {call.method} {call.path}")

    def _openapi(self) -> Answer:
        """The release's document without the versions newer than ours (so that ours is the newest)."""
        served = int(self.version.rsplit(".", 1)[1])
        if self.release is None:  # no recorded document for v0.0.39: its operations' paths only
            return Answer(200, {"openapi": "3.0.2", "paths": {
                f"/slurm/{self.version}{path}": {} for path in ("/jobs", "/job/{job_id}", "/job/submit", "/ping")}})
        document = copy.deepcopy(openapi(self.release))
        newer = re.compile(r"^/slurm/v0\.0\.(\d+)/")
        document["paths"] = {p: v for p, v in document["paths"].items()
                             if not (newer.match(p) and int(newer.match(p).group(1)) > served)}
        return Answer(200, document)

    def _refusal(self, call: Call) -> Answer:
        """A refused token, as the version's release answered one."""
        recorded = self.recording.answer("auth_failed")
        if self.release == "22.05":
            if call.method == "GET":
                return recorded  # the fast 500 with -1 (identical to slurmctld down)
            # submit/cancel: 5005 (../shared/reference/slurmrestd-22.05.md §2), in 22.05's {error_code, error}
            return recorded.with_body({"meta": recorded.body["meta"], "errors": [
                {"error_code": 5005, "error": "Zero Bytes were transmitted or received"}]})
        if call.path == "/ping" and self.release == "26.05":  # a 200 whose controller is "not responding"
            body = self.recording.body("ping")
            body["pings"] = [{**p, "responding": False, "status": "Protocol authentication error"}
                             for p in body["pings"]]
            return Answer(200, body)
        if recorded is None:  # v0.0.39: 23.02's plain refusal, 511 with 1007
            return self.recording.error_answer(511, {"description": "Unable to query jobs", "error_number": 1007,
                                                     "error": "Protocol authentication error", "source": ""})
        return recorded

    def _ping(self) -> Answer:
        body = self.recording.body("ping")
        if not self.controller_responding:
            body["pings"] = [{**p, **{k: "DOWN" for k in ("ping", "pinged") if k in p},
                              **({"responding": False} if "responding" in p else {}),
                              **({"status": -1} if isinstance(p.get("status"), int) else {})} for p in body["pings"]]
        return Answer(200, body)

    def _submit(self, call: Call) -> Answer:
        body = call.body
        errors = [e.message for e in submit_validator(self.version).iter_errors(body)]
        assert not errors, f"{self.version} would not parse this submission: {errors[:3]}"
        job = body["job"]
        script_in_job = self.version not in ("v0.0.37", "v0.0.38")  # 22.05: top level (500/2009 otherwise)
        script = job.get("script") if script_in_job else body.get("script")
        where = "in job" if script_in_job else "top level"
        assert isinstance(script, str) and script, f"{self.version} wants the script {where}"
        if job["partition"] not in self.partitions:
            return self._refused_partition()
        environment = job["environment"]
        queued = self.add_job(
            job["name"], partition=job["partition"], user_name=call.user, cpus_per_task=job["cpus_per_task"],
            memory_per_node=_number(job["memory_per_node"]), time_limit=_number(job["time_limit"]),
            current_working_directory=job["current_working_directory"], standard_output=job["standard_output"],
            standard_error=job["standard_error"], script=script,
            environment=dict(environment) if isinstance(environment, dict)
            else dict(item.split("=", 1) for item in environment))
        if job["cpus_per_task"] > self.node_cpus:
            return self._too_many_cpus(queued)
        return self._with_job_id(self.recording.answer("submit_ok"), queued.job_id)

    def _too_many_cpus(self, queued: FakeJob) -> Answer:
        """What the release answered for cpus_per_task 9999 (22.05, 26.05: queued, error 2015 / its warning,
        pending forever with reason PartitionConfig; 24.11: refused, 500 with 2014)."""
        answer = self.recording.answer("submit_refused_cpus") or self.recording.answer("submit_with_errors")
        if "job_id" not in answer.body:
            self.purge(queued.job_id)
            return answer
        self.set_state(queued.job_id, "PENDING", reason="PartitionConfig")
        return self._with_job_id(answer, queued.job_id)

    def _refused_partition(self) -> Answer:
        recorded = self.recording.answer("submit_refused_partition")
        if recorded is None:  # v0.0.39: 2000 in its error shape, with 22.05's and 24.11's status
            return self.recording.error_answer(500, {"description": "Batch job submission failed", "error_number": 2000,
                                                     "error": "Invalid partition name specified",
                                                     "source": "slurm_submit_batch_job()"})
        return recorded

    @staticmethod
    def _with_job_id(answer: Answer, job_id: int) -> Answer:
        body = copy.deepcopy(answer.body)
        body["job_id"] = job_id
        if isinstance(body.get("result"), dict):
            body["result"]["job_id"] = job_id
        return answer.with_body(body)

    def _listing(self, update_time: str | None) -> Answer:
        if update_time is not None:
            since = self._since(update_time)
            if isinstance(since, Answer):
                return since
            if since - 1 >= self.changed_at:  # slurmctld's own test (_slurm_rpc_dump_jobs): no change
                return self._no_change(since)
        body = self.recording.body("jobs")
        body["jobs"] = [self._record(job) for job in sorted(self.jobs.values(), key=lambda j: j.job_id)]
        if "last_update" in body:
            body["last_update"] = _like(body["last_update"], self.now())
        return Answer(200, body)

    def _since(self, value: str) -> int | Answer:
        """`update_time` as the version reads it: an epoch, or (v0.0.40/41, which refuse an epoch with the
        recorded 422) a time string, of which "now-<N>seconds" is what clients send."""
        refused_epoch = self.recording.answer("jobs_update_time_epoch")
        if refused_epoch is None:
            return int(value)
        if value.isdigit():
            return refused_epoch
        match = re.fullmatch(r"now-(\d+)seconds", value)
        assert match, f"fake slurmrestd cannot read update_time={value!r}"
        return self.now() - int(match.group(1))

    def _no_change(self, since: int) -> Answer:
        answer = self.recording.answer("jobs_not_modified")
        if answer.body is None:
            return answer  # 22.05: a 304 with an empty body
        body = copy.deepcopy(answer.body)
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
        for warning in body["warnings"]:
            text = re.sub(r"update_time\[\d+\]=\S+", f"update_time[{since}]={local}", warning["description"])
            warning["description"] = re.sub(r"update_time=\d+", f"update_time={since}", text)
        return answer.with_body(body)

    def _show(self, job_id: int) -> Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return self.recording.answer("job_not_found")
        body = self.recording.body("job_running" if self.release else "jobs")
        body["jobs"] = [self._record(job)]
        return Answer(200, body)

    def _cancel(self, job_id: int) -> Answer:
        """A live job ends CANCELLED by SIGTERM, as recorded; an unknown one gets the release's answer."""
        job = self.jobs.get(job_id)
        if job is None:
            recorded = self.recording.answer("cancel_not_found")
            if recorded is None:  # v0.0.39: 2017 in its error shape, with 22.05's status
                return self.recording.error_answer(500, {**self.recording.body("job_not_found")["errors"][0],
                                                         "source": "slurm_kill_job"})
            return recorded.with_body(json.loads(json.dumps(recorded.body).replace("999999", str(job_id))))
        if job.state not in FINAL_STATES:
            self.set_state(job_id, "CANCELLED", exit_code=signal.SIGTERM.value)
        recorded = self.recording.answer("cancel_ok")
        return recorded or Answer(200, self.recording.envelope)

    def _record(self, job: FakeJob) -> dict:
        """The job as the version's recorded job record shows one."""
        raw = self.recording.job_record
        state = [job.state, *job.flags] if isinstance(raw["job_state"], list) else (job.flags or (job.state,))[0]
        raw.update(job_id=job.job_id, name=job.name, job_state=state, state_reason=job.reason,
                   partition=job.partition, user_name=job.user_name, restart_cnt=job.restart_cnt,
                   current_working_directory=job.current_working_directory, standard_output=job.standard_output,
                   standard_error=job.standard_error,
                   exit_code=_exit_code_like(raw["exit_code"], job.exit_code))
        for name in ("submit_time", "start_time", "end_time", "time_limit", "cpus_per_task", "memory_per_node"):
            raw[name] = _like(raw.get(name, 0), getattr(job, name))
        return raw

    def _changed(self) -> None:
        self.changed_at = self.now()


def _number(value: Any) -> int:
    return value["number"] if isinstance(value, dict) else value
