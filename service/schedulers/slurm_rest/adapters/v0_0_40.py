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
* ping stays `{hostname, pinged, latency, mode}`; errors stay `{description, error_number, error, source}`.
Paths are unchanged: GET /jobs (with `update_time`), GET and DELETE /job/{job_id}, POST /job/submit, GET /ping
(the schema spells some with a trailing slash; slurmrestd matches path components, as 22.05 did for /ping).
"""

from __future__ import annotations

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


class V0040Adapter(V0039Adapter):
    version = "v0.0.40"

    def parse_submit(self, body: Mapping[str, Any]) -> SubmitResult:
        parsed = super().parse_submit(body)
        result = body.get("result") if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping):
            return parsed
        errors = list(parsed.errors)
        code = _int(result.get("error_code"))
        if code and all(e.code != code for e in errors):
            errors.append(SlurmError(code=code, message=str(result.get("error") or ""), source="result"))
        return SubmitResult(
            job_id=parsed.job_id if parsed.job_id is not None else _int(result.get("job_id")),
            errors=errors,
            user_message=parsed.user_message or str(result.get("job_submit_user_msg") or ""),
        )

    @staticmethod
    def _state(value: Any) -> str:
        names = [str(v).upper() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v]
        return (next((n for n in names if n in FINAL_FLAGS), None)
                or next((n for n in names if n in REQUEUE_FLAGS), None)
                or next((n for n in names if n in BASE_STATES), None)
                or (names[0] if names else ""))
