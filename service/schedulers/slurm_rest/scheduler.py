"""SlurmRestScheduler: HyPhy jobs on a Slurm cluster through slurmrestd (SCHEDULER_TYPE=SlurmRestScheduler).

- **Submit**: POST {SLURM_REST_SUBMIT_API_PATH}/job/submit with the batch script from script.py,
  job name `datamonkey-<our job id>` (so a Slurm job can always be matched back), partition
  SLURM_QUEUE_NAME, the job's cpus / memory / time limit. Traps (reference §4): a 200 can carry
  `errors` *and* a job id (held, PartitionConfig: it would stay PENDING forever) → that job is
  cancelled and the submission fails with Slurm's reason; a 5xx or a lost connection can still
  leave a job behind (error 2014) → the job table is searched by name before anything else, so
  nothing is ever submitted twice; otherwise SchedulerUnavailable (503).
- **Identity**: the native id is `<slurm id>@<submit_time>`; a Slurm job only counts as ours when
  its name matches and its submit time is ours, or later with a non-zero `restart_cnt`: a requeue
  (node failure, preemption, `scontrol requeue`) keeps the id and name, sets a new submit time and
  counts the restart (seen on 22.05), while a job that got our id after a cluster rebuild starts at
  restart_cnt 0, so an old job never picks up a new job's status.
- **Status**: an informer cache (informer.py) fed by one poller; statuses() never calls slurmrestd.
  A job the listing no longer has (purged ~5 min after it ends) is decided by its `exit_status`
  file, else reported lost; states.py maps Slurm states.
- **Client credentials**: a JobSpec (or cancel) carrying a client's own `X-SLURM-USER-NAME` /
  `X-SLURM-USER-TOKEN` makes that one call as the client's user, so the job runs as them; status
  listings and name look-ups keep using the service's token.
- **Shared file system**: the job directory must have the same path on this host and on the
  compute nodes, and be writable by the unix user jobs run as (SLURM_JWT_USERNAME or the client's). When the
  service runs as root it chowns each job directory (recursively) to that user; otherwise the
  directory is made world-writable (0777), unless the service already runs as that user.
  JOB_WORK_LOCATION must be absolute and every directory above it searchable by SLURM_JWT_USERNAME
  (workdir.py): checked at start (logged) and on every /health (`job_work`).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import requests

from service.jobdir import JobDirectory
from service.schedulers.base import (
    FINISHED,
    HEALTHY,
    LOST,
    PENDING,
    UNHEALTHY,
    UNKNOWN,
    ClusterCredentials,
    ComponentHealth,
    JobSpec,
    RunState,
    Scheduler,
    SchedulerRefused,
    SchedulerUnavailable,
)
from service.schedulers.health_cache import HealthCache
from service.schedulers.slurm_rest.adapters import SlurmJob, SubmitRequest
from service.schedulers.slurm_rest.discovery import ApiVersion, NoSupportedVersion
from service.schedulers.slurm_rest.client import (
    AUTH_FAILURE_STATUSES,
    SlurmRestClient,
    SlurmRestError,
    TokenRefused,
    is_outage,
)
from service.schedulers.slurm_rest.informer import JobInformer
from service.schedulers.slurm_rest.script import build_script
from service.schedulers.slurm_rest import workdir as workdirs
from service.schedulers.slurm_rest.states import gone_state, phase_of, run_state
from service.schedulers.slurm_rest.token import SlurmJWTManager
from service.trackers.jobs import JobRecord

log = logging.getLogger(__name__)

NAME_PREFIX = "datamonkey-"
#: Slurm's own stdout/stderr (e.g. "CANCELLED DUE TO TIME LIMIT"); HyPhy's go to stdout.log/stderr.log.
#: Slurm error "Invalid job id specified": unknown or purged job.
INVALID_JOB_ID = 2017
#: Errors a 200 submit may carry for a job that *will* run once the cluster recovers (kept, not
#: cancelled): 2068 "Required node not available (down, drained or reserved)", seen for a
#: submission made right after a slurmctld restart, before slurmd had registered again.
TRANSIENT_SUBMIT_CODES = frozenset({2068})
#: (connect, read) seconds for the /health ping: a healthy slurmctld answers in milliseconds.
HEALTH_TIMEOUT = (2.0, 5.0)
#: A /health ping result is reused for this long: /health is public and must not fan out to Slurm.
#: Older, it is still served while one ping in the background refreshes it (health_cache.py).
HEALTH_CACHE_S = 5.0
#: Before the first ping answered, /health waits this long for it, then says "unknown".
HEALTH_FIRST_WAIT_S = 2.0
#: The job listing counts as stale after 3 poll intervals, but never sooner than this.
LISTING_STALE_S = 60


class SlurmSubmitError(SchedulerRefused):
    """Slurm refused (or would never run) the job, or refused to cancel it; with Slurm's reason."""


def native_id(slurm_id: int, submit_time: int | None) -> str:
    return f"{slurm_id}@{submit_time}" if submit_time else str(slurm_id)


def parse_native_id(value: str) -> tuple[int, int | None] | None:
    head, _, tail = (value or "").partition("@")
    try:
        return int(head), (int(tail) if tail else None)
    except ValueError:
        return None


class SlurmRestScheduler(Scheduler):
    name = "SlurmRestScheduler"
    accepts_credentials = True

    def __init__(self, *, base_url: str, api_path: str, submit_api_path: str = "", partition: str, jwt,
                 username: str = "", poll_secs: float = 5.0, session: requests.Session | None = None,
                 start: bool = True, clock: Callable[[], float] = time.time, work_root: Path | None = None):
        session = session or requests.Session()
        self.partition = partition
        self.username = username
        self.jwt = jwt
        self._clock = clock
        api = ApiVersion(api_path)
        self.client = SlurmRestClient(base_url, api, jwt, session)
        submit_api = api if submit_api_path in ("", api_path) else ApiVersion(submit_api_path,
                                                                              "SLURM_REST_SUBMIT_API_PATH")
        self.submit_client = SlurmRestClient(base_url, submit_api, jwt, session)
        self.informer = JobInformer(self.client, poll_secs, NAME_PREFIX, clock=clock)
        self.informer.add_handler(_log_change)
        self._lock = threading.Lock()
        #: our job id → local time its submission returned (for "not listed yet" vs "gone").
        self._submitted: dict[str, float] = {}
        self.pings = HealthCache(self._ping, max_age_s=HEALTH_CACHE_S, first_wait_s=HEALTH_FIRST_WAIT_S,
                                 name="slurmrestd ping", clock=clock)
        #: Slurm's release as the last ping's `meta` reported it ('' until then).
        self.release = ""
        self.work_root = work_root
        if work_root is not None:
            access = workdirs.reachable(work_root, username)
            if access.status != HEALTHY:
                log.warning("the Slurm job user cannot reach JOB_WORK_LOCATION",
                            extra={"status": access.status, "reason": access.reason, "detail": access.detail})
        if start:
            self.informer.start()

    @classmethod
    def from_settings(cls, settings) -> "SlurmRestScheduler":
        jwt = SlurmJWTManager(Path(settings.SLURM_JWT_KEY_PATH), settings.SLURM_JWT_USERNAME,
                              lifetime_secs=settings.SLURM_JWT_EXPIRATION_SECS,
                              refresh_secs=settings.SLURM_JWT_REFRESH_SECS)
        jwt.start()
        return cls(base_url=settings.SLURM_REST_URL, api_path=settings.SLURM_REST_API_PATH,
                   submit_api_path=settings.slurm_submit_api_path, partition=settings.SLURM_QUEUE_NAME,
                   jwt=jwt, username=settings.SLURM_JWT_USERNAME, poll_secs=settings.SLURM_POLL_SECS,
                   work_root=settings.JOB_WORK_LOCATION)

    # -- submit ------------------------------------------------------------------------------
    def submit(self, spec: JobSpec) -> str:
        name = NAME_PREFIX + spec.job_id
        workdir = Path(spec.workdir).resolve()
        files = JobDirectory(workdir)
        script = build_script(spec.job_id, workdir, spec.argv)
        adapter = self.submit_client.adapter
        body = adapter.submit_body(SubmitRequest(
            name=name, partition=self.partition, current_working_directory=str(workdir),
            environment=dict(spec.env) or {"PATH": "/usr/bin:/bin"},
            standard_output=str(files.slurm_stdout), standard_error=str(files.slurm_stderr),
            cpus_per_task=spec.cpus, memory_per_node_mb=spec.memory_mb, time_limit_min=spec.time_limit_min,
            script=script,
        ))
        workdirs.share(workdir, spec.credentials.user if spec.credentials else self.username)
        try:
            return self._post(name, body, spec.credentials)
        finally:
            # Taken once the POST has returned: a listing requested before that may predate the job
            # in slurmctld (however late it was answered), so only a later one can prove it gone.
            with self._lock:
                self._submitted[spec.job_id] = self._clock()

    def _post(self, name: str, body: dict, credentials: ClusterCredentials | None, resend: bool = True) -> str:
        """POST the job → its native id. A failure that may still have created it is settled by name
        first; after a refused service token (the client refreshed it) the POST is sent again only
        when Slurm has no job by that name, so nothing is ever submitted twice."""
        adapter = self.submit_client.adapter
        try:
            response = self.submit_client.request("POST", adapter.submit_path, json=body, credentials=credentials,
                                                  resend=False)
        except SchedulerUnavailable as exc:
            return self._after_failed_submit(name, exc, None)
        except SlurmRestError as exc:
            if isinstance(exc, TokenRefused) and resend:
                found = self._lookup(name, exc)
                return self._adopt(found, exc) if found else self._post(name, body, credentials, resend=False)
            if (exc.status or 0) >= 500:
                return self._after_failed_submit(name, exc, exc)
            raise SlurmSubmitError(f"Slurm rejected the job submission: {exc}") from None
        return self._accepted(response, name, credentials)

    def _accepted(self, response: requests.Response, name: str, credentials: ClusterCredentials | None) -> str:
        """A 2xx submit answer → the native id; a job Slurm queued with a lasting error is cancelled."""
        result = self.submit_client.adapter.parse_submit(self.submit_client.json(response) or {})
        if result.job_id is None:
            raise SlurmSubmitError(f"slurmrestd accepted the submission but returned no job id: "
                                   f"{'; '.join(map(str, result.errors)) or response.text[:300]}")
        transient = [e for e in result.errors if e.code in TRANSIENT_SUBMIT_CODES]
        if transient:
            log.warning("slurm queued the job with a passing warning; it will start once nodes are back",
                        extra={"slurm_id": result.job_id, "error": "; ".join(map(str, transient))})
        if len(transient) < len(result.errors):
            reason = "; ".join(map(str, result.errors))
            self._cancel_id(result.job_id, credentials)
            raise SlurmSubmitError(f"Slurm queued job {result.job_id} but reported: {reason}. It would not run as "
                                   f"submitted (it would stay pending), so it was cancelled")
        job = self._read_job(result.job_id)
        if job is not None and job.name == name:
            self.informer.put(job)
            return native_id(job.job_id, job.submit_time)
        return native_id(result.job_id, None)

    def _after_failed_submit(self, name: str, exc: Exception, rest_error: SlurmRestError | None) -> str:
        """A lost connection or 5xx may still have created the job: look for it by name first."""
        found = self._lookup(name, exc)
        if found is not None:
            if rest_error is not None and phase_of(found.state) == FINISHED:
                log.warning("slurm refused a job but left it behind", extra={"slurm_id": found.job_id,
                                                                              "state": found.state})
                raise SlurmSubmitError(f"Slurm refused the job: {rest_error}") from None
            return self._adopt(found, exc)
        if rest_error is None or is_outage(rest_error):
            raise SchedulerUnavailable(str(exc)) from None
        raise SlurmSubmitError(f"Slurm refused the job: {rest_error}") from None

    def _lookup(self, name: str, exc: Exception) -> SlurmJob | None:
        """The job Slurm has by this name after a submission failed with `exc`."""
        try:
            return self._find_by_name(name)
        except (SchedulerUnavailable, SlurmRestError) as listing_error:
            raise SchedulerUnavailable(f"submission failed ({exc}) and the job table cannot be read to check "
                                       f"whether the job exists ({listing_error})") from None

    def _adopt(self, found: SlurmJob, exc: Exception) -> str:
        log.warning("submission reported a failure but the job exists; not resubmitting",
                    extra={"slurm_id": found.job_id, "error": str(exc)})
        self.informer.put(found)
        return native_id(found.job_id, found.submit_time)

    def _find_by_name(self, name: str) -> SlurmJob | None:
        response = self.client.request("GET", self.client.adapter.jobs_path)
        jobs = [j for j in self.client.adapter.parse_jobs(self.client.json(response) or {}) if j.name == name]
        return max(jobs, key=lambda j: j.submit_time or 0) if jobs else None

    def _read_job(self, slurm_id: int) -> SlurmJob | None:
        """GET /job/{id}; None when Slurm does not know it (or cannot say right now)."""
        try:
            response = self.client.request("GET", self.client.adapter.job_path(slurm_id))
        except (SchedulerUnavailable, SlurmRestError) as exc:
            log.info("cannot read slurm job", extra={"slurm_id": slurm_id, "error": str(exc)})
            return None
        jobs = self.client.adapter.parse_jobs(self.client.json(response) or {})
        return jobs[0] if jobs else None

    # -- status ------------------------------------------------------------------------------
    def statuses(self, jobs: list[JobRecord]) -> dict[str, RunState]:
        synced_at = self.informer.synced_at
        if synced_at is None:
            raise SchedulerUnavailable("no job listing from slurmrestd yet"
                                       + (f": {self.informer.last_error}" if self.informer.last_error else ""))
        return {job.job_id: self._status(job, synced_at) for job in jobs}

    def _status(self, job: JobRecord, synced_at: float) -> RunState:
        ident = parse_native_id(job.native_id)
        if ident is None:
            return RunState(LOST, None, f"unreadable Slurm job id {job.native_id!r}")
        slurm_id, submit_time = ident
        workdir = Path(job.workdir)
        listed = self.informer.get(slurm_id)
        if listed is not None and _same_job(listed, NAME_PREFIX + job.job_id, submit_time):
            return run_state(listed, workdir, self._clock())
        with self._lock:
            submitted = self._submitted.get(job.job_id)
            if submitted is not None and synced_at > submitted:
                del self._submitted[job.job_id]  # listings decide from now on
        if submitted is not None and synced_at <= submitted:
            return RunState(PENDING)  # the last listing may predate the job in slurmctld
        return gone_state(workdir, slurm_id)

    # -- cancel ------------------------------------------------------------------------------
    def cancel(self, job: JobRecord, credentials: ClusterCredentials | None = None) -> None:
        ident = parse_native_id(job.native_id)
        if ident is None:
            return
        current = self._read_job(ident[0])
        if current is None or not _same_job(current, NAME_PREFIX + job.job_id, ident[1]):
            return  # Slurm no longer knows it, or the id now belongs to another job
        if phase_of(current.state) != FINISHED:
            self._cancel_id(current.job_id, credentials)

    def _cancel_id(self, slurm_id: int, credentials: ClusterCredentials | None = None) -> None:
        try:
            response = self.client.request("DELETE", self.client.adapter.job_path(slurm_id), credentials=credentials)
        except SlurmRestError as exc:
            if INVALID_JOB_ID in exc.codes:
                return
            if is_outage(exc):
                raise SchedulerUnavailable(str(exc)) from None
            raise SlurmSubmitError(f"Slurm refused to cancel job {slurm_id}: {exc}") from None
        refused = [e for e in self.client.adapter.parse_cancel(self.client.json(response)) if e.code != INVALID_JOB_ID]
        if refused:  # v0.0.42+: a 200 whose per-job status says why not
            raise SlurmSubmitError(f"Slurm refused to cancel job {slurm_id}: " + "; ".join(map(str, refused)))

    # -- lifecycle ---------------------------------------------------------------------------
    def find_submitted(self, jobs: list[JobRecord]) -> dict[str, str]:
        """Slurm jobs named for these jobs (one listing): submitted before the id was recorded."""
        if not jobs:
            return {}
        try:
            response = self.client.request("GET", self.client.adapter.jobs_path)
        except SlurmRestError as exc:
            raise SchedulerUnavailable(str(exc)) from None
        wanted = {NAME_PREFIX + job.job_id: job.job_id for job in jobs}
        found: dict[str, SlurmJob] = {}
        for listed in self.client.adapter.parse_jobs(self.client.json(response) or {}):
            if listed.name in wanted and (listed.name not in found
                                          or (listed.submit_time or 0) > (found[listed.name].submit_time or 0)):
                found[listed.name] = listed
        for listed in found.values():
            self.informer.put(listed)
        return {wanted[name]: native_id(listed.job_id, listed.submit_time) for name, listed in found.items()}

    def recover(self, jobs: list[JobRecord]) -> None:
        """Every listing after start-up is newer than these jobs' submissions: one poll now lets
        the job service settle them (finished, purged → exit_status file, or lost) immediately."""
        if jobs:
            self.informer.poll_once()

    def health(self) -> dict[str, ComponentHealth]:
        """slurm_token (the key file signs), slurmrestd + slurmctld (one ping, answered within
        HEALTH_TIMEOUT: a down slurmctld costs slurmrestd ~9 s; the last answer is served while the
        next one is awaited in the background), job_listing (the informer's last successful
        listing is recent; status reads serve that cache meanwhile), job_work (JOB_WORK_LOCATION is
        absolute and the job user can reach it: workdir.py)."""
        checks = {"slurm_token": _token_check(self.jwt.token), "slurmrestd": ComponentHealth(UNKNOWN),
                  "slurmctld": ComponentHealth(UNKNOWN)}
        if checks["slurm_token"].status == HEALTHY:
            checks.update(self.pings.get() or {})
        checks["job_listing"] = self._listing_health()
        if self.work_root is not None:
            checks["job_work"] = workdirs.reachable(self.work_root, self.username)
        return checks

    def _ping(self) -> dict[str, ComponentHealth]:
        try:
            adapter = self.client.adapter
            response = self.client.request("GET", adapter.ping_path, timeout=HEALTH_TIMEOUT)
        except NoSupportedVersion as exc:
            return {"slurmrestd": ComponentHealth(UNHEALTHY, "slurmrestd serves no REST API version this "
                                                             "service supports", str(exc))}
        except SchedulerUnavailable as exc:
            if isinstance(exc.__cause__, requests.ReadTimeout):
                return {"slurmrestd": ComponentHealth(HEALTHY), "slurmctld": ComponentHealth(
                    UNHEALTHY, f"slurmrestd got no answer from slurmctld within {HEALTH_TIMEOUT[1]:.0f} s")}
            return {"slurmrestd": ComponentHealth(UNHEALTHY, "slurmrestd is unreachable", str(exc))}
        except SlurmRestError as exc:
            if exc.status in AUTH_FAILURE_STATUSES:
                return {"slurmrestd": ComponentHealth(HEALTHY), "slurm_token": ComponentHealth(
                    UNHEALTHY, f"slurmrestd refused the service's token (HTTP {exc.status})", str(exc))}
            return {"slurmrestd": ComponentHealth(HEALTHY), "slurmctld": ComponentHealth(
                UNHEALTHY, f"slurmrestd answered HTTP {exc.status}: slurmctld unreachable, or the service's "
                           "token refused", str(exc))}
        body = self.client.json(response) or {}
        self.release = adapter.parse_release(body) or self.release
        if adapter.ping_ok(body):
            return {"slurmrestd": ComponentHealth(HEALTHY), "slurmctld": ComponentHealth(HEALTHY)}
        if "authentication" in response.text.lower():  # 26.05: a refused token is a 200 "not responding"
            return {"slurmrestd": ComponentHealth(HEALTHY), "slurm_token": ComponentHealth(
                UNHEALTHY, "slurmctld refused the service's token (ping: authentication error)", response.text[:300])}
        return {"slurmrestd": ComponentHealth(HEALTHY), "slurmctld": ComponentHealth(
            UNHEALTHY, "slurmctld does not answer slurmrestd's ping (a controller is not UP)", response.text[:300])}

    def describe(self) -> dict[str, str]:
        """Slurm's release (from the last ping) and the REST API version in use, once known."""
        adapter = self.client.api.known
        return {**({"slurm_release": self.release} if self.release else {}),
                **({"slurm_api_version": adapter.version} if adapter else {})}

    def _listing_health(self) -> ComponentHealth:
        synced_at, error = self.informer.synced_at, self.informer.last_error
        if synced_at is None:
            return ComponentHealth(UNKNOWN, "no job listing yet") if not error else ComponentHealth(
                UNHEALTHY, "no job listing from slurmrestd yet", error)
        age = self._clock() - synced_at
        if age > max(3 * self.informer.interval_s, LISTING_STALE_S):
            return ComponentHealth(UNHEALTHY, "the job listing is stale; serving cached job states",
                                   f"last job listing {age:.0f} s ago" + (f": {error}" if error else ""))
        return ComponentHealth(HEALTHY)

    def shutdown(self) -> None:
        self.informer.stop()
        shutdown = getattr(self.jwt, "shutdown", None)
        if shutdown is not None:
            shutdown()
        self.pings.wait(sum(HEALTH_TIMEOUT))  # a /health ping in flight ends (or times out) first
        self.client.session.close()


def _token_check(mint: Callable[[], object]) -> ComponentHealth:
    try:
        mint()
    except SchedulerUnavailable as exc:
        return ComponentHealth(UNHEALTHY, "the service cannot sign its Slurm token (SLURM_JWT_KEY_PATH)", str(exc))
    return ComponentHealth(HEALTHY)


def _same_job(job: SlurmJob, name: str, submit_time: int | None) -> bool:
    """Our job: its unique name and our submit time, or a later one after a requeue."""
    if job.name != name:
        return False
    requeued = bool(job.restart_count) and (job.submit_time or 0) > (submit_time or 0)
    return submit_time is None or job.submit_time == submit_time or requeued


def _log_change(before: SlurmJob | None, after: SlurmJob | None) -> None:
    if after is None:
        log.info("slurm job no longer listed", extra={"slurm_id": before.job_id if before else None})
    else:
        log.info("slurm job state", extra={"slurm_id": after.job_id, "slurm_name": after.name, "state": after.state,
                                           "slurm_reason": after.reason})
