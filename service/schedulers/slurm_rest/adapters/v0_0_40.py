"""REST API v0.0.40 (Slurm 23.11): job states become lists, times become wrapped numbers, submit gains `result`.

Schema used: the generated v0.0.40 OpenAPI document as published in jontk/slurm-client
`openapi-specs/slurm-v0.0.40.json` (components `v0.0.40_job_submit_req`, `v0.0.40_job_desc_msg`,
`v0.0.40_openapi_job_submit_response`, `v0.0.40_job_submit_response_msg`, `v0.0.40_openapi_job_info_resp`,
`v0.0.40_job_info`, `v0.0.40_job_state`, `v0.0.40_process_exit_code_verbose`, `v0.0.40_uint32_no_val`,
`v0.0.40_uint64_no_val`, `v0.0.40_openapi_ping_array_resp`, `v0.0.40_controller_ping`, `v0.0.40_openapi_error`),
cross-checked with a real 23.11.10 body (rackslab/Slurm-web `slurmweb/tests/assets/slurmrestd/23.11/
slurm-job-failed.json`). Trimmed copy: tests/fixtures/slurmrestd/v0.0.40/openapi-trimmed.json.

The submit body is unchanged from v0.0.39 (same types for every field we send; `script` "must be specified in
first component of jobs or in job if this field is not populated"). What changed for us:
* `job_state` is an array of `v0.0.40_job_state` strings: one base state plus flags (e.g. ["CANCELLED",
  "COMPLETING"]). We report the base state, except that SPECIAL_EXIT and REVOKED win: for them the base state
  is a held/pending one and they are the final states states.py knows (22.05 reported the flag alone too);
  and that a requeue flag wins next: ["NODE_FAIL", "REQUEUED"] or ["PREEMPTED", "REQUEUED"] is a job Slurm
  is putting back in the queue, not a final failure (22.05's job_state_string reported "REQUEUED" too).
* `submit_time`/`start_time`/`end_time` are `v0.0.40_uint64_no_val` (the inherited `_number` unwraps them) and
  `exit_code` is `v0.0.40_process_exit_code_verbose` (handled since v0.0.39).
* the submit response adds `result` (`job_id`, `step_id`, `error_code`, `error`, `job_submit_user_msg`); a
  non-zero `result.error_code` not already in `errors` is reported as an error, like 22.05's 200-with-errors.
* a submission Slurm queues with a "non-fatal" error (openapi/slurmctld's `nonfatal_errors`, since 23.11.1:
  nodes busy or not available, held, partition configuration unavailable, QOS/accounting limits, ...) is a 200
  with a job id, no `errors`, and the error only as a *warning* "Job submission resulted in non-zero return code:
  <Slurm's error string>" (recorded live from 26.05.5 for cpus_per_task 9999: "Requested partition configuration
  not available now", the job then pends forever with reason PartitionConfig; 22.05 reported the same as error
  2015). `parse_submit` reports that warning as an error, with Slurm's code where the string is known.
* ping stays `{hostname, pinged, latency, mode}`; errors stay `{description, error_number, error, source}`.
* the listing's `update_time` query is read with Slurm's time-string parser, not as a number: an epoch is
  refused (422, 9202 "Parsing of 1796483836 for timestamp failed", then 9000 "Rejecting request. Failure
  parsing query."), as recorded live from Slurm 24.11.5's v0.0.40 and v0.0.41 (tests/fixtures/slurmrestd/24.11/
  v0.0.4[01]/jobs_update_time_epoch.json). It takes "now-<N>seconds" and a local `YYYY-MM-DDTHH:MM:SS`;
  `update_time_param` sends the former (no time zone to guess). v0.0.42 takes the epoch again.
Paths are unchanged: GET /jobs (with `update_time`), GET and DELETE /job/{job_id}, POST /job/submit, GET /ping
(the schema spells some with a trailing slash; slurmrestd matches path components, as 22.05 did for /ping).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from service.schedulers.slurm_rest.adapters.base import SlurmError, SubmitResult
from service.schedulers.slurm_rest.adapters.v0_0_39 import V0039Adapter, _int

#: The base values of `v0.0.40_job_state` (Slurm's JOB_STATE_BASE); the rest of the enum are flags.
BASE_STATES = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL",
               "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY")
#: Flags that end a job whatever its base state says.
FINAL_FLAGS = ("SPECIAL_EXIT", "REVOKED")
#: Flags of a job being requeued (queued again under the same id) whatever its base state says.
REQUEUE_FLAGS = ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED")


#: What slurmrestd prefixes to a non-fatal submit error it reports as a warning of a 200.
NONFATAL_SUBMIT_WARNING = "Job submission resulted in non-zero return code: "
#: Slurm's error strings (slurm_errno.c) → codes, for the non-fatal errors whose code is known here.
NONFATAL_SUBMIT_CODES = {
    "Requested partition configuration not available now": 2015,  # 22.05 reported it as error 2015
    "Requested nodes are busy": 2016,
    "Job is in held state, pending scheduler release": 2042,  # 22.05: error 2042 for hold: true
    "Required node not available (down, drained or reserved)": 2068,  # scheduler.TRANSIENT_SUBMIT_CODES
}


class V0040Adapter(V0039Adapter):
    version = "v0.0.40"

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
        code = _int(result.get("error_code"))
        if code and all(e.code != code for e in errors):
            errors.append(SlurmError(code=code, message=str(result.get("error") or ""), source="result"))
        return SubmitResult(
            job_id=parsed.job_id if parsed.job_id is not None else _int(result.get("job_id")),
            errors=errors,
            user_message=parsed.user_message or str(result.get("job_submit_user_msg") or ""),
        )

    def update_time_param(self, since: int, now: float) -> int | str:
        """The `update_time` query value asking for changes after `since` (epoch seconds, the controller's
        `last_update`), sent at our time `now`: "now-<N>seconds" with N = whole seconds from `since` to `now`.
        With synchronised clocks slurmctld resolves it to `since` itself (its "now" is whole seconds too), the
        value that gets "no change". Our clock ahead of slurmctld's only costs full listings; behind it by d
        seconds, a change within d seconds after `since` waits for the informer's periodic full listing."""
        return f"now-{max(0, math.floor(now) - int(since))}seconds"

    @staticmethod
    def _state(value: Any) -> str:
        names = [str(v).upper() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]
        return (next((n for n in names if n in FINAL_FLAGS), None)
                or next((n for n in names if n in REQUEUE_FLAGS), None)
                or next((n for n in names if n in BASE_STATES), None)
                or (names[0] if names else ""))
