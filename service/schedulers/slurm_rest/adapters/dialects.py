"""The wire formats slurmrestd's REST API versions share: what the version modules are composed of.

A version module builds its adapter from the classes here and nothing else: no version module imports
another, so retiring a version is deleting its module and its `ADAPTERS` entry. The families:

* `Slurm2205Format`: Slurm 22.05's own format (v0.0.37, v0.0.38).
* `DataParserFormat`: the data_parser format of Slurm 23.02 onwards (v0.0.39+): `{set, infinite, number}`
  numbers, a list environment, `job.script`, the verbose exit code, `pinged`/`responding` pings.
* what later versions change on top of it, one mixin each: `JobStateLists` and `SubmitResultWarnings`
  (v0.0.40+), `UpdateTimeAsText` (v0.0.40 and v0.0.41 only), `PerJobCancelStatus` (v0.0.42+), composed at
  the end into `Slurm2311Format` (v0.0.40, v0.0.41) and `Slurm2411Format` (v0.0.42 onwards).

All of them read and write through `CommonFormat`, which holds what every version does alike (the submit
answer, the job record, the three error shapes, `last_update`) on top of small conversion hooks
(`_environment`, `_limit`, `_number`, `_exit_code`, `_state`, `_answered`) that the families set.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any

from service.schedulers.slurm_rest.adapters.base import RestAdapter, SlurmError, SlurmJob, SubmitRequest, SubmitResult


# -- field readers and writers -------------------------------------------------------------------
def plain_int(value: Any) -> int | None:
    """An integer that is not a bool; anything else → None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def wrapped_int(value: Any) -> int | None:
    """A plain integer or a `{set, infinite, number}` object; unset or infinite → None."""
    if isinstance(value, Mapping):
        if value.get("infinite") is True or value.get("set") is False:
            return None
        return plain_int(value.get("number"))
    return plain_int(value)


def no_val(number: int) -> dict[str, Any]:
    """A set `uintNN_no_val` value, as the submit schemas declare it."""
    return {"set": True, "infinite": False, "number": int(number)}


def wait_status(value: Any) -> int | None:
    """Any exit_code shape → the raw wait status (exit N → N << 8; signal S → S, | 0x80 if it dumped core)."""
    if not (isinstance(value, Mapping) and ("status" in value or "return_code" in value or "signal" in value)):
        return wrapped_int(value)  # plain int or uint32_no_val: already the raw status
    status = value.get("status")
    statuses = {str(s).upper() for s in (status if isinstance(status, list) else [status]) if s}
    signal = value.get("signal")
    signal_id = wrapped_int(signal.get("id")) if isinstance(signal, Mapping) else None
    if signal_id and statuses & {"SIGNALED", "CORE_DUMPED"}:
        return (signal_id & 0x7F) | (0x80 if "CORE_DUMPED" in statuses else 0)
    return_code = wrapped_int(value.get("return_code"))
    if return_code is None or statuses & {"PENDING", "INVALID"}:
        return None
    return (return_code & 0xFF) << 8


# -- what every version shares -------------------------------------------------------------------
class CommonFormat(RestAdapter):
    """The submit answer, the job record, the error list and `last_update`, as every version reads them,
    through the conversion hooks below (set by the families)."""

    def job_description(self, request: SubmitRequest) -> dict[str, Any]:
        """The `job` object every version sends; the families choose how its fields are encoded."""
        return {
            "name": request.name,
            "partition": request.partition,
            "current_working_directory": request.current_working_directory,
            "environment": self._environment(request.environment),
            "standard_output": request.standard_output,
            "standard_error": request.standard_error,
            "cpus_per_task": int(request.cpus_per_task),
            "memory_per_node": self._limit(request.memory_per_node_mb),
            "time_limit": self._limit(request.time_limit_min),
        }

    def parse_submit(self, body: Mapping[str, Any]) -> SubmitResult:
        job_id = body.get("job_id") if isinstance(body, Mapping) else None
        return SubmitResult(
            job_id=int(job_id) if isinstance(job_id, int) and not isinstance(job_id, bool) else None,
            errors=self.parse_errors(body),
            user_message=str(body.get("job_submit_user_msg") or "") if isinstance(body, Mapping) else "",
        )

    def parse_jobs(self, body: Mapping[str, Any]) -> list[SlurmJob]:
        jobs = body.get("jobs") if isinstance(body, Mapping) else None
        return [self.parse_job(raw) for raw in jobs or [] if isinstance(raw, Mapping)]

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=self._state(raw.get("job_state")),
            reason=str(raw.get("state_reason") or ""),
            exit_code=self._exit_code(raw.get("exit_code")),
            submit_time=self._time(raw.get("submit_time")),
            start_time=self._time(raw.get("start_time")),
            end_time=self._time(raw.get("end_time")),
            cluster=str(raw.get("cluster") or ""),
            time_limit=self._number(raw.get("time_limit")),
            user_name=str(raw.get("user_name") or ""),
            partition=str(raw.get("partition") or ""),
            restart_count=self._number(raw.get("restart_cnt")),
        )

    def parse_last_update(self, body: Mapping[str, Any]) -> int | None:
        """Absent in 22.05; a wrapped number from v0.0.40 on (0 in a "no change" answer)."""
        return self._time(body.get("last_update")) if isinstance(body, Mapping) else None

    def parse_errors(self, body: Any) -> list[SlurmError]:
        """22.05's three shapes ({error_code, error}, {description, error_number, error, source}, {error, errno});
        the data_parser versions use the second one only."""
        errors = body.get("errors") if isinstance(body, Mapping) else None
        parsed = []
        for raw in errors or []:
            if not isinstance(raw, Mapping):
                continue
            code = next((raw[k] for k in ("error_code", "error_number", "errno") if isinstance(raw.get(k), int)), None)
            parsed.append(SlurmError(code=code, message=str(raw.get("error") or ""),
                                     description=str(raw.get("description") or ""),
                                     source=str(raw.get("source") or "")))
        return parsed

    def ping_ok(self, body: Mapping[str, Any]) -> bool:
        pings = body.get("pings") if isinstance(body, Mapping) else None
        return bool(pings) and all(isinstance(p, Mapping) and self._answered(p) for p in pings)

    # -- conversion hooks ----------------------------------------------------------------------
    @staticmethod
    @abc.abstractmethod
    def _environment(environment: Mapping[str, str]) -> Any:
        """The submitted `job.environment`."""

    @staticmethod
    @abc.abstractmethod
    def _limit(number: int) -> Any:
        """A submitted `memory_per_node` / `time_limit`."""

    @staticmethod
    @abc.abstractmethod
    def _number(value: Any) -> int | None:
        """A number of a job record (None: unset or unlimited)."""

    @staticmethod
    @abc.abstractmethod
    def _exit_code(value: Any) -> int | None:
        """A job record's `exit_code` → the raw wait status."""

    @staticmethod
    @abc.abstractmethod
    def _answered(ping: Mapping[str, Any]) -> bool:
        """One controller of a ping answer is up."""

    @staticmethod
    def _state(value: Any) -> str:
        """A job record's `job_state` (a string until v0.0.39; `JobStateLists` reads the later lists)."""
        return str(value or "").upper()

    @classmethod
    def _time(cls, value: Any) -> int | None:
        number = cls._number(value)
        return number if number else None


# -- the families --------------------------------------------------------------------------------
class Slurm2205Format(CommonFormat):
    """Slurm 22.05's wire format (v0.0.37 and v0.0.38).

    Facts (../shared/reference/slurmrestd-22.05.md §3-§6): `script` is top level beside `job`; `environment`
    is a non-empty object; `memory_per_node` MB and `time_limit` minutes are plain integers; `job_state` is an
    upper-case string; `exit_code` a raw wait status; times are epoch seconds with 0 for "not yet"; errors come
    in three shapes ({error_code, error}, {description, error_number, error, source}, {error, errno}); a ping
    entry says `ping: "UP"`.
    """

    def submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {"job": self.job_description(request), "script": request.script}

    @staticmethod
    def _environment(environment: Mapping[str, str]) -> dict[str, str]:
        return dict(environment)

    @staticmethod
    def _limit(number: int) -> int:
        return int(number)

    _number = staticmethod(plain_int)
    _exit_code = staticmethod(plain_int)

    @staticmethod
    def _answered(ping: Mapping[str, Any]) -> bool:
        return str(ping.get("ping", "")).upper() == "UP"


class DataParserFormat(CommonFormat):
    """The data_parser wire format, from Slurm 23.02's v0.0.39 on. What changed from v0.0.37/38:

    * submit: `job.environment` is an array of "K=V" strings (required); `time_limit` is a `uint32_no_val` and
      `memory_per_node` a `uint64_no_val` (`{set, infinite, number}`), while `cpus_per_task` stays a plain
      integer. `script` is declared both top level and in `job`; we send `job.script`, the form v0.0.40
      documents and v0.0.41 requires (top level deprecated).
    * listing: `exit_code`, `time_limit` (and most counts; times from v0.0.40 on) are `{set, infinite, number}`;
      unset/infinite → None. `exit_code.number` is still the raw wait status. Slurm 23.02.4 re-tagged
      `exit_code` as "complex", so the verbose `{status, return_code, signal}` object of v0.0.40 is accepted
      from v0.0.39 on.
    * ping: `pings[].pinged` ("UP"/"DOWN") replaces 22.05's `ping`; later versions add `responding` beside it
      (v0.0.42) or instead of it (v0.0.45), which wins when present.
    * errors: one shape, `{error_number, error, source, description}` (`CommonFormat.parse_errors` reads it).
    """

    def submit_body(self, request: SubmitRequest) -> dict[str, Any]:
        return {"job": {**self.job_description(request), "script": request.script}}

    @staticmethod
    def _environment(environment: Mapping[str, str]) -> list[str]:
        return [f"{key}={value}" for key, value in environment.items()]

    _limit = staticmethod(no_val)
    _number = staticmethod(wrapped_int)
    _exit_code = staticmethod(wait_status)

    @staticmethod
    def _answered(ping: Mapping[str, Any]) -> bool:
        if isinstance(ping.get("responding"), bool):  # later data_parsers add it beside `pinged`
            return ping["responding"]
        return str(ping.get("pinged", ping.get("ping", ""))).upper() == "UP"


# -- what later versions change ------------------------------------------------------------------
#: The base values of `v0.0.40_job_state` (Slurm's JOB_STATE_BASE); the rest of the enum are flags.
BASE_STATES = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
               "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY")
#: Flags that end a job whatever its base state says.
FINAL_FLAGS = ("SPECIAL_EXIT", "REVOKED")
#: Flags of a job being requeued (queued again under the same id) whatever its base state says.
REQUEUE_FLAGS = ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED")


class JobStateLists(CommonFormat):
    """v0.0.40+: `job_state` is an array of `job_state` strings, one base state plus flags (e.g. ["CANCELLED",
    "COMPLETING"]). We report the base state, except that SPECIAL_EXIT and REVOKED win: for them the base state
    is a held/pending one and they are the final states states.py knows (22.05 reported the flag alone too);
    and that a requeue flag wins next: ["NODE_FAIL", "REQUEUED"] or ["PREEMPTED", "REQUEUED"] is a job Slurm is
    putting back in the queue, not a final failure (22.05's job_state_string reported "REQUEUED" too)."""

    @staticmethod
    def _state(value: Any) -> str:
        names = [str(v).upper() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]
        return (next((n for n in names if n in FINAL_FLAGS), None)
                or next((n for n in names if n in REQUEUE_FLAGS), None)
                or next((n for n in names if n in BASE_STATES), None)
                or (names[0] if names else ""))


#: What slurmrestd prefixes to a non-fatal submit error it reports as a warning of a 200.
NONFATAL_SUBMIT_WARNING = "Job submission resulted in non-zero return code: "
#: Slurm's error strings (slurm_errno.c) → codes, for the non-fatal errors whose code is known here.
NONFATAL_SUBMIT_CODES = {
    "Requested partition configuration not available now": 2015,  # 22.05 reported it as error 2015
    "Requested nodes are busy": 2016,
    "Job is in held state, pending scheduler release": 2042,  # 22.05: error 2042 for hold: true
    "Required node not available (down, drained or reserved)": 2068,  # scheduler.TRANSIENT_SUBMIT_CODES
}


class SubmitResultWarnings(CommonFormat):
    """v0.0.40+ submit answers.

    * the answer adds `result` (`job_id`, `step_id`, `error_code`, `error`, `job_submit_user_msg`; deprecated
      from v0.0.41, still sent); a non-zero `result.error_code` not already in `errors` is reported as an
      error, like 22.05's 200-with-errors.
    * a submission Slurm queues with a "non-fatal" error (openapi/slurmctld's `nonfatal_errors`, since 23.11.1:
      nodes busy or not available, held, partition configuration unavailable, QOS/accounting limits, ...) is a
      200 with a job id, no `errors`, and the error only as a *warning* "Job submission resulted in non-zero
      return code: <Slurm's error string>" (recorded live from 26.05.5 for cpus_per_task 9999: "Requested
      partition configuration not available now", the job then pends forever with reason PartitionConfig;
      22.05 reported the same as error 2015). That warning is reported as an error, with Slurm's code where
      the string is known.
    """

    def parse_submit(self, body: Mapping[str, Any]) -> SubmitResult:
        parsed = super().parse_submit(body)
        errors = list(parsed.errors)
        for warning in (body.get("warnings") if isinstance(body, Mapping) else None) or []:
            text = str(warning.get("description") or "") if isinstance(warning, Mapping) else ""
            if text.startswith(NONFATAL_SUBMIT_WARNING):
                message = text[len(NONFATAL_SUBMIT_WARNING):].strip()
                code = NONFATAL_SUBMIT_CODES.get(message)
                if code is None or all(e.code != code for e in errors):
                    errors.append(SlurmError(code=code, message=message, source=str(warning.get("source") or "")))
        parsed = SubmitResult(job_id=parsed.job_id, errors=errors, user_message=parsed.user_message)
        result = body.get("result") if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping):
            return parsed
        code = plain_int(result.get("error_code"))
        if code and all(e.code != code for e in errors):
            errors.append(SlurmError(code=code, message=str(result.get("error") or ""), source="result"))
        return SubmitResult(
            job_id=parsed.job_id if parsed.job_id is not None else plain_int(result.get("job_id")),
            errors=errors,
            user_message=parsed.user_message or str(result.get("job_submit_user_msg") or ""),
        )


class UpdateTimeAsText(CommonFormat):
    """v0.0.40 and v0.0.41 only: the listing's `update_time` query is read with Slurm's time-string parser,
    not as a number. An epoch is refused (422, 9202 "Parsing of 1796483836 for timestamp failed", then 9000
    "Rejecting request. Failure parsing query."), as recorded live from Slurm 24.11.5's v0.0.40 and v0.0.41
    (tests/fixtures/slurmrestd/24.11/v0.0.4[01]/jobs_update_time_epoch.json). It takes "now-<N>seconds" and
    a local `YYYY-MM-DDTHH:MM:SS`; we send the former (no time zone to guess). v0.0.42 takes the epoch again."""

    def update_time_param(self, since: int, now: float) -> int | str:
        """The `update_time` query value asking for changes after `since` (epoch seconds, the controller's
        `last_update`), sent at our time `now`: "now-<N>seconds" with N = whole seconds from `since` to `now`.
        With synchronised clocks slurmctld resolves it to `since` itself (its "now" is whole seconds too), the
        value that gets "no change". Our clock ahead of slurmctld's only costs full listings; behind it by d
        seconds, a change within d seconds after `since` waits for the informer's periodic full listing."""
        return f"now-{max(0, math.floor(now) - int(since))}seconds"


class PerJobCancelStatus(CommonFormat):
    """v0.0.42+: a cancel slurmctld refuses is still a 200 with no `errors`: the reason is in a per-job
    `status` list (`{"error": {"code": 2017, "string": "Invalid job id specified"}, "job_id": …}`)."""

    def parse_cancel(self, body: Any) -> list[SlurmError]:
        entries = body.get("status") if isinstance(body, Mapping) else None
        refused = [entry["error"] for entry in entries or [] if isinstance(entry, Mapping)
                   and isinstance(entry.get("error"), Mapping) and entry["error"].get("code")]
        return self.parse_errors(body) + [
            SlurmError(code=e["code"] if isinstance(e["code"], int) else None,
                       message=str(e.get("string") or e.get("message") or ""), source="job cancel")
            for e in refused]


# -- the later families, as the version modules use them ---------------------------------------------
class Slurm2311Format(UpdateTimeAsText, SubmitResultWarnings, JobStateLists, DataParserFormat):
    """v0.0.40 and v0.0.41 (Slurm 23.11, 24.05; served by 24.11): the data_parser format with job state
    lists, the submit `result` and non-fatal warnings, and `update_time` as a time string."""


class Slurm2411Format(PerJobCancelStatus, SubmitResultWarnings, JobStateLists, DataParserFormat):
    """v0.0.42 onwards (Slurm 24.11 to 26.05): v0.0.40's format with `update_time` an epoch again and a
    refused cancel's reason in the per-job `status` list."""
