"""Job lifecycle, one generic path for every method: validate → dedupe → prepare → submit → track.

Handlers stay thin; this module holds the rules:
- identical start requests (same owner, method, canonical options and dataset *contents*)
  return the same job unless that one failed;
- a job is `completed` only when its run finished and `service.hyphy.classify` accepts its files;
- state is refreshed lazily from the scheduler whenever a non-final job is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from service import hyphy
from service.datasets import checks
from service.datasets.profile import TreeProfile
from service.datasets.service import DatasetService
from service.errors import (
    Conflict,
    FieldError,
    InvalidRequest,
    MethodNotAvailable,
    NotFound,
    ServiceUnavailable,
    StorageUnavailable,
    Unauthorized,
)
from service.identity import Identity, require_owner
from service.jobdir import JobDirectory
from service.jobs_listing import JobListing, JobPage
from service.methods import Method, Resources
from service.methods.capabilities import FixedCapabilities, MethodCatalog
from service.methods.options import BRANCH_KEYWORDS, GENETIC_CODES
from service.schedulers.base import (
    ACTIVE,
    FINISHED,
    LOST,
    ClusterCredentials,
    JobSpec,
    RunState,
    Scheduler,
    SchedulerRefused,
    SchedulerUnavailable,
)
from service.trackers.datasets import DatasetRecord
from service.trackers.fs import storage_guard
from service.trackers.jobs import (
    COMPLETED,
    ERROR,
    QUEUED,
    RUNNING,
    AttemptConflict,
    FileJobTracker,
    JobRecord,
    new_job_id,
    utc_now,
)

log = logging.getLogger(__name__)


class JobService:
    def __init__(self, *, datasets: DatasetService, tracker: FileJobTracker, scheduler: Scheduler,
                 work_root: Path, hyphy_binary: str, resource_overrides: Mapping[str, int] | None = None,
                 methods: MethodCatalog | None = None):
        """`datasets`: the only way to the dataset store. `methods`: the registry as the installed
        HyPhy can run it (default: HyPhy 2.5.46's)."""
        self.datasets = datasets
        self.methods = methods if methods is not None else MethodCatalog(FixedCapabilities())
        self.tracker = tracker
        self.listing = JobListing(tracker, self.refresh_many)
        self.scheduler = scheduler
        self.work_root = Path(work_root)
        self.hyphy_binary = hyphy_binary
        #: METHOD_TIME_LIMIT_MIN / METHOD_CPUS / METHOD_MEMORY_MB that are set: replace every method's default.
        self.resource_overrides = dict(resource_overrides or {})
        #: Jobs a previous process was submitting when it stopped, not yet adopted or failed (recover()).
        self._interrupted: set[str] = set()
        self._settling = threading.Lock()
        self._settle_after = 0.0
        self.work_root.mkdir(parents=True, exist_ok=True)

    # -- starting ----------------------------------------------------------------------------
    def start(self, identity: Identity, method_id: str, body: Mapping[str, Any],
              credentials: ClusterCredentials | None = None) -> JobRecord:
        """`credentials`: the client's own cluster user and token; the job runs as that user."""
        if not self.scheduler.accepts_credentials:
            credentials = None
        method, record, inputs = self._plan(identity, method_id, body, credentials.user if credentials else "")
        self._check_content(method, inputs, record.options)  # here, not in _plan: result polls stay cheap
        existing = self.tracker.find_by_key(record.request_key)
        if existing is not None:
            self.refresh(existing)  # reuse is decided on its stored state: bring that up to date first
        job, created = self.tracker.create_or_get(record, reuse=lambda old: old.state != ERROR)
        if not created:
            return self.refresh(job)
        return self._submit_or_forget(method, job, inputs, credentials, forget=lambda: self.tracker.delete(job.job_id))

    def retry(self, identity: Identity, job_id: str, resources: Mapping[str, int],
              credentials: ClusterCredentials | None = None) -> JobRecord:
        """Submit a failed or cancelled job's analysis again as a new job linked to it, with
        `resources` (cpus, memory_mb, time_limit_min) replacing the old job's where given."""
        job = self.get(identity, job_id)
        if job.state != ERROR:
            raise Conflict(f"only a failed or cancelled job can be retried; this one is {job.state}")
        if not self.scheduler.accepts_credentials:
            credentials = None
        elif job.cluster_user and (credentials is None or credentials.user != job.cluster_user):
            # never silently rerun a user's job as the service's own cluster account
            raise Unauthorized(f"this job ran as Slurm user {job.cluster_user}: send that user's X-SLURM-USER-TOKEN "
                               "(and X-SLURM-USER-NAME) to retry it")
        method = self.methods.get(job.method)
        if not method.available:
            raise MethodNotAvailable(method.id, method.unavailable_reason)
        inputs = {role: self.datasets.find(ds_id) for role, ds_id in job.datasets.items() if ds_id}
        for role, record in inputs.items():
            if record is None:
                raise Conflict(f"the job's {role} dataset {job.datasets[role]} was deleted: upload it again and "
                               "start a new job")
        new_id = new_job_id()
        attempt = dataclasses.replace(
            job, job_id=new_id, workdir=str(self.work_root / new_id),
            resources={**job.resources, **resources}, scheduler=self.scheduler.name,
            cluster_user=credentials.user if credentials else "",
            previous_job_ids=[*job.previous_job_ids, job.job_id], retried_as=None,
            state=QUEUED, reason="", progress="", progress_detail={}, native_id="", scheduler_info={},
            created=utc_now(), updated=utc_now(), started=None, finished=None, cancelled=None,
        )
        try:
            self.tracker.create_attempt(attempt, replaces=job.job_id)
        except AttemptConflict as exc:
            raise Conflict(str(exc)) from None
        except KeyError:
            raise NotFound("Job not found", job_id=job_id) from None
        log.info("job retried", extra={"job_id": new_id, "previous_job_id": job.job_id, "resources": attempt.resources})
        try:
            return self._submit_or_forget(method, attempt, inputs, credentials,
                                          forget=lambda: self.tracker.abandon_attempt(attempt, replaces=job.job_id))
        except SchedulerRefused as exc:
            if not resources:
                raise
            raise InvalidRequest([FieldError(name, f"the scheduler refused the job with these resources: {exc.message}")
                                  for name in sorted(resources)]) from None

    def _submit_or_forget(self, method: Method, job: JobRecord, inputs: dict[str, DatasetRecord],
                          credentials: ClusterCredentials | None, forget) -> JobRecord:
        try:
            return self._submit(method, job, inputs, credentials)
        except Exception:
            # Never leave a record that was not submitted: as `queued` it would be reused by every
            # identical start and keep its datasets undeletable (409) until a restart.
            forget()
            shutil.rmtree(job.workdir, ignore_errors=True)
            raise  # a SchedulerUnavailable is the edge's 503 (service/api/errors.py)

    def find(self, identity: Identity, method_id: str, body: Mapping[str, Any]) -> JobRecord:
        """The job a start request with this body made (POST *-result)."""
        _, record, _ = self._plan(identity, method_id, body)
        job = self.tracker.find_by_key(record.request_key)
        if job is None:
            raise NotFound("Job not found: no job was started with this request body")
        return self.refresh(job)

    def _plan(self, identity: Identity, method_id: str, body: Mapping[str, Any], cluster_user: str = ""):
        method = self.methods.get(method_id)
        if not method.available:
            raise MethodNotAvailable(method_id, method.unavailable_reason)
        dataset_ids, options = method.normalize(body)
        records = self.datasets.for_request(identity, dataset_ids)
        kind = method.data_kind(options)
        wrong = checks.kind_error(records["alignment"], records.get("tree"), kind,
                                  method.name if kind == method.data else f"{method.name} with this data type")
        if wrong is not None:
            raise InvalidRequest(wrong)
        tree = self._check_tree(method, records, options)
        self._check_labels(method, options, tree)
        inputs = {role: rec.content_sha256 for role, rec in records.items()}
        key_material = json.dumps(
            {"owner": identity.owner, "method": method.id, "options": options, "inputs": inputs,
             **({"cluster_user": cluster_user} if cluster_user else {})}, sort_keys=True
        )
        job_id = new_job_id()
        record = JobRecord(
            job_id=job_id, owner=identity.owner, method=method.id,
            request_key=hashlib.sha256(key_material.encode()).hexdigest(),
            options=options, datasets={role: rec.id for role, rec in records.items()}, inputs=inputs,
            workdir=str(self.work_root / job_id), scheduler=self.scheduler.name, cluster_user=cluster_user,
            resources=vars(self.resources(method)).copy(),
        )
        return method, record, records

    def _check_tree(self, method: Method, records: dict[str, DatasetRecord], options: dict) -> TreeProfile | None:
        """The tree HyPhy will use (from the stored profile); 422 when the method needs one and there is none."""
        if method.tree == "none":
            return None
        source = records.get("tree") or records["alignment"]
        found = self.datasets.profile(source).tree
        if found is None:
            raise InvalidRequest(FieldError("tree", (
                f"dataset {source.id} holds no tree (a NEXUS file needs a TREES block with a TREE)" if "tree" in records
                else f"{method.name} needs a tree: give a tree dataset id, or upload an alignment with an embedded "
                     "tree (NEXUS TREES block)")))
        return found

    @staticmethod
    def _check_labels(method: Method, options: dict, tree: TreeProfile | None) -> None:
        """Labelled-branch methods: labels must exist in the tree; RELAX picks a lone label itself."""
        labels = list(tree.labels) if tree else []
        if method.label_option and not labels:
            raise InvalidRequest(FieldError("tree", f"{method.name} needs a tree whose branches carry "
                                                    "{Label} annotations, e.g. (A{Test},B,(C{Test},D));"))
        if method.label_option and not options[method.label_option]:
            if len(labels) != 1:
                raise InvalidRequest(FieldError(method.label_option, f"choose one of the tree's labels: {', '.join(labels)}"))
            options[method.label_option] = labels[:1]
        for name in ("branches", method.label_option, "reference_branches"):
            chosen = options.get(name) if name else None
            for label in [chosen] if isinstance(chosen, str) else chosen or []:
                if label not in BRANCH_KEYWORDS and label not in labels and tree:
                    raise InvalidRequest(FieldError(name, f"label {label!r} is not in the tree; its labels are: "
                                                          f"{', '.join(labels) or 'none'}"))

    def _check_content(self, method: Method, records: dict[str, DatasetRecord], options: dict) -> None:
        """What the method needs inside the data (service.datasets.checks), all problems in one 422.

        Profiles are read once per content and kept (service.datasets.profile), so this costs a
        few dictionary look-ups per start once a dataset has been profiled."""
        alignment = records["alignment"]
        profile = self.datasets.profile(alignment)
        errors = checks.alignment_errors(alignment.id, profile)
        if method.data_kind(options) == "codon" and not profile.problem:
            spec_code = options.get("genetic_code") or "Universal"
            code = GENETIC_CODES[spec_code]
            errors += checks.codon_errors(
                alignment.id, profile,
                lambda: self.datasets.stops(alignment, code), spec_code)
        if method.tree != "none" and not profile.problem:
            if "tree" in records:
                tree_record = records["tree"]
                tree = self.datasets.profile(tree_record).tree
                where = f"dataset {tree_record.id}"
            else:
                tree, where = profile.tree, f"the tree embedded in dataset {alignment.id}"
            errors += checks.tree_errors(tree, where, alignment.id, profile)
        if errors:
            raise InvalidRequest(errors)

    def _submit(self, method: Method, job: JobRecord, inputs: dict[str, DatasetRecord],
                credentials: ClusterCredentials | None) -> JobRecord:
        files = JobDirectory(job.workdir)
        workdir = files.path
        alignment = files.alignment
        tree = files.tree if "tree" in inputs and method.tree != "none" else None
        with storage_guard(workdir, "job work"):  # a full or read-only disk is a 503, not a 500
            workdir.mkdir(parents=True, exist_ok=True)
            # HyPhy silently prefers a tree embedded in the alignment over --tree: the client's tree wins
            self.datasets.copy_content(inputs["alignment"], alignment, without_embedded_tree=tree is not None)
            if tree is not None:
                self.datasets.copy_content(inputs["tree"], tree)
        resources = Resources(**job.resources)
        argv = hyphy.command(self.hyphy_binary, resources.cpus,
                             method.argv(job.options, str(alignment), str(tree) if tree else None, str(workdir)))
        spec = JobSpec(
            job_id=job.job_id, workdir=workdir, argv=argv, env=hyphy.environment({"LC_ALL": "C.UTF-8"}),
            cpus=resources.cpus, memory_mb=resources.memory_mb,
            time_limit_min=resources.time_limit_min, name=f"datamonkey-{job.job_id}", credentials=credentials,
        )
        native_id = self.scheduler.submit(spec)
        log.info("job submitted", extra={"job_id": job.job_id, "method": method.id, "native_id": native_id})
        try:
            submitted = self.tracker.update(job.job_id, native_id=native_id)
        except KeyError:
            submitted = None
        if submitted is None or submitted.cancelled:
            # Cancelled or deleted while it was being submitted (it had no id to stop then): stop it now.
            log.info("stopping a job cancelled while it was being submitted", extra={"job_id": job.job_id})
            self.scheduler.cancel(dataclasses.replace(job, native_id=native_id), credentials)
        if submitted is None:
            raise NotFound("Job not found: it was deleted while it was being submitted", job_id=job.job_id)
        return submitted

    def resources(self, method: Method) -> Resources:
        """The method registry's default resources, with the configured overrides applied."""
        return dataclasses.replace(method.resources, **self.resource_overrides)

    # -- reading -----------------------------------------------------------------------------
    def get(self, identity: Identity, job_id: str, method_id: str | None = None) -> JobRecord:
        job = self.tracker.get(job_id)
        if job is None or (method_id is not None and job.method != method_id):
            raise NotFound("Job not found", job_id=job_id if job_id.isalnum() else None)
        require_owner(identity, job.owner, "job")
        refreshed = self.refresh_many([job])
        if not refreshed:
            raise NotFound("Job not found", job_id=job_id)
        return refreshed[0]

    def list(self, identity: Identity, filters: Mapping[str, str | None], *, since: str | None = None,
             limit: int | None = None, page_token: str | None = None) -> JobPage:
        """The caller's jobs, newest first, filtered, one page at a time (service/jobs_listing.py)."""
        return self.listing.page(identity.owner, filters, since=since, limit=limit, page_token=page_token)

    def refresh(self, job: JobRecord) -> JobRecord:
        """`job` brought up to date (as it was if it has been deleted meanwhile)."""
        return (self.refresh_many([job]) or [job])[0]

    def refresh_many(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """Bring non-final jobs up to date with one scheduler call; final ones are returned as-is,
        jobs deleted meanwhile are left out."""
        self._settle_interrupted_submissions()
        pending = [j for j in jobs if not j.final and j.native_id]
        if not pending:
            return jobs
        try:
            states = self.scheduler.statuses(pending)
        except SchedulerUnavailable as exc:
            log.warning("scheduler status unavailable; serving stored state", extra={"error": str(exc)})
            return jobs
        updated = {j.job_id: self._apply(j, states[j.job_id]) for j in pending if j.job_id in states}
        return [updated.get(j.job_id, j) for j in jobs if updated.get(j.job_id, j) is not None]

    def _apply(self, job: JobRecord, run: RunState) -> JobRecord | None:
        """Save what `run` says about `job`; None when the job was deleted meanwhile.

        The change is applied to the record as stored when the lock is taken, not to `job` (read
        before the scheduler call): a cancel or an end recorded meanwhile wins, as a final state
        is written once."""
        changes = _run_changes(Path(job.workdir), run)
        if not changes:
            return job

        def transition(record: JobRecord) -> bool | None:
            changed = {} if record.final else _changed(record, changes)
            for name, value in changed.items():
                setattr(record, name, value)
            return None if changed else False

        try:
            updated = self.tracker.modify(job.job_id, transition)
        except KeyError:
            return None
        except StorageUnavailable as exc:
            # Readers still get the current state; a later read saves it once the store takes writes.
            log.warning("job state not saved", extra={"job_id": job.job_id, "error": exc.message})
            return dataclasses.replace(job, **_changed(job, changes))
        if updated.final and not job.final and updated.state == changes.get("state"):
            log.info("job finished", extra={"job_id": job.job_id, "state": updated.state, "reason": updated.reason})
        return updated

    def result(self, job: JobRecord) -> Any:
        return JobDirectory(job.workdir).read_result()

    # -- stopping ----------------------------------------------------------------------------
    def cancel(self, identity: Identity, job_id: str, credentials: ClusterCredentials | None = None) -> JobRecord:
        """Stop a queued or running job and keep it (record, files, logs) as a final `error` that
        says it was cancelled and by whom; a job that already ended is returned as it is."""
        job = self.get(identity, job_id)
        if job.final:
            return job
        if job.native_id:
            self._stop(job, credentials)
        # else: still being submitted; _submit stops it once the backend has given it an id
        who = (f"Slurm user {credentials.user}" if credentials and self.scheduler.accepts_credentials
               else "the anonymous user" if identity.anonymous else "its owner")
        now = utc_now()

        def mark_cancelled(record: JobRecord) -> bool | None:
            if record.final:  # it ended meanwhile: that end stands
                return False
            record.state, record.finished, record.cancelled = ERROR, now, now
            record.reason = f"cancelled by {who} at {now}"
            return None

        cancelled = self._modify(job_id, mark_cancelled)
        if cancelled.cancelled == now:
            log.info("job cancelled", extra={"job_id": job.job_id})
            if not job.native_id and cancelled.native_id:
                self._stop(cancelled, credentials)  # its submission finished between our read and our mark
        return cancelled

    def annotate(self, identity: Identity, job_id: str, patch: Mapping[str, Any]) -> JobRecord:
        """Merge the owner's annotations (JSON merge patch: `labels` key by key, `notes` replaced;
        null removes)."""
        self.get(identity, job_id)  # 404 / 401 / 403 first

        def merge(record: JobRecord) -> None:
            merged = dict(record.annotations)
            if patch.get("labels") is not None:
                labels = {**merged.get("labels", {}), **patch["labels"]}
                merged["labels"] = {key: value for key, value in labels.items() if value is not None}
            elif "labels" in patch:
                merged.pop("labels", None)
            if "notes" in patch:
                merged["notes"] = patch["notes"]
            record.annotations = {k: v for k, v in merged.items() if v}
            if len(json.dumps(record.annotations)) > MAX_ANNOTATION_BYTES:
                raise InvalidRequest(FieldError("labels", f"annotations may take at most {MAX_ANNOTATION_BYTES} "
                                                          "bytes of JSON in all"))

        return self._modify(job_id, merge)

    def _modify(self, job_id: str, apply) -> JobRecord:
        """tracker.modify, with a job deleted meanwhile as a 404."""
        try:
            return self.tracker.modify(job_id, apply)
        except KeyError:
            raise NotFound("Job not found", job_id=job_id) from None

    def _stop(self, job: JobRecord, credentials: ClusterCredentials | None) -> None:
        try:
            self.scheduler.cancel(job, credentials if self.scheduler.accepts_credentials else None)
        except SchedulerUnavailable as exc:
            raise ServiceUnavailable(f"the job scheduler is unavailable, the job was not cancelled: {exc}") from exc

    def delete(self, identity: Identity, job_id: str, credentials: ClusterCredentials | None = None) -> None:
        """Upstream's DELETE /jobs/{id}: cancel if not final, then forget the job and its files."""
        job = self.get(identity, job_id)
        if not job.final and job.native_id:
            self._stop(job, credentials)
        # (no id yet: still being submitted; _submit stops it when it finds the record gone)
        self.tracker.delete(job.job_id)
        shutil.rmtree(job.workdir, ignore_errors=True)
        log.info("job deleted", extra={"job_id": job.job_id})

    def refresh_active(self) -> list[JobRecord]:
        """Every job not yet final, brought up to date (one scheduler call)."""
        return self.refresh_many(self.tracker.active())

    def active_using(self, dataset_id: str) -> list[JobRecord]:
        return [j for j in self.refresh_active() if not j.final and dataset_id in j.datasets.values()]

    def recover(self) -> None:
        """At start-up: re-attach running jobs, settle finished ones, decide on those whose
        submission was interrupted.

        A job that failed can be started again with the same request (it is not reused)."""
        active = self.tracker.active()
        # Recorded without a native id: the previous process died while submitting it. The backend
        # may have taken it anyway (then it runs, and is tracked as usual); else it fails.
        self._interrupted = {j.job_id for j in active if not j.native_id}
        adopted = self._settle_interrupted_submissions()
        self.scheduler.recover([j for j in active if j.native_id and j.scheduler == self.scheduler.name] + adopted)
        self.refresh_active()

    def _settle_interrupted_submissions(self) -> list[JobRecord]:
        """Adopt the interrupted submissions the backend took and fail the others; while it cannot
        tell (unreachable), they stay as they are and are asked about again at the next read.
        Returns the adopted jobs."""
        if not self._interrupted or time.monotonic() < self._settle_after:
            return []
        if not self._settling.acquire(blocking=False):
            return []  # another thread is asking; readers do not queue behind a slow scheduler
        try:
            jobs = [j for j in map(self.tracker.get, sorted(self._interrupted)) if j is not None and not j.final]
            ours = [j for j in jobs if j.scheduler == self.scheduler.name]
            try:
                found = self.scheduler.find_submitted(ours) if ours else {}
            except SchedulerUnavailable as exc:
                log.warning("cannot ask the scheduler about interrupted submissions yet", extra={"error": str(exc)})
                self._settle_after = time.monotonic() + SETTLE_RETRY_S
                return []
            adopted = []
            for job in jobs:
                if job.job_id in found:
                    log.info("adopted a job submitted before a restart",
                             extra={"job_id": job.job_id, "native_id": found[job.job_id]})
                    adopted.append(self.tracker.update(job.job_id, native_id=found[job.job_id]))
                else:
                    self._fail_unsubmitted(job.job_id)
            self._interrupted.clear()
            return adopted
        finally:
            self._settling.release()

    def _fail_unsubmitted(self, job_id: str) -> None:
        def fail(record: JobRecord) -> bool | None:
            if record.final or record.native_id:
                return False
            record.state, record.finished = ERROR, utc_now()
            record.reason = "the service stopped before this job was submitted; start it again"
            return None

        try:
            self.tracker.modify(job_id, fail)
        except KeyError:
            pass


def _run_changes(workdir: Path, run: RunState) -> dict[str, Any]:
    """The record fields a scheduler's `run` state implies (`started` only if not yet known)."""
    if run.phase == ACTIVE:
        progress = hyphy.progress(workdir)
        return {"state": RUNNING, "progress": progress.text, "progress_detail": progress.detail(),
                "started": utc_now()}
    if run.phase == LOST:
        return {"state": ERROR, "reason": run.reason, "finished": utc_now()}
    if run.phase == FINISHED:
        if run.reason:
            outcome = hyphy.Outcome(False, run.reason)
        else:
            outcome = hyphy.classify(workdir, run.exit_code if run.exit_code is not None else -1)
        progress = hyphy.Progress() if outcome.completed else hyphy.progress(workdir)
        return {"state": COMPLETED if outcome.completed else ERROR, "reason": outcome.reason,
                "finished": utc_now(), "progress": progress.text, "progress_detail": progress.detail(),
                "started": run.info.get("started")}
    return {}


def _changed(record: JobRecord, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Of `changes`, those that differ from `record`; a known start time is kept."""
    return {name: value for name, value in changes.items()
            if getattr(record, name) != value
            and not (name == "started" and (record.started is not None or value is None))}


#: How long to wait before asking an unreachable scheduler about interrupted submissions again.
SETTLE_RETRY_S = 15.0
#: All of one job's annotations, as JSON.
MAX_ANNOTATION_BYTES = 16 * 1024
