"""REST API v0.0.40 (Slurm 23.11): the data_parser format with job states as lists (`JobStateLists`), times as
wrapped numbers, the submit answer's `result` and non-fatal warnings (`SubmitResultWarnings`), and an
`update_time` slurmrestd reads as a time string (`UpdateTimeAsText`): see dialects.py for each.

Schema used: the generated v0.0.40 OpenAPI document as published in jontk/slurm-client
`openapi-specs/slurm-v0.0.40.json` (components `v0.0.40_job_submit_req`, `v0.0.40_job_desc_msg`,
`v0.0.40_openapi_job_submit_response`, `v0.0.40_job_submit_response_msg`, `v0.0.40_openapi_job_info_resp`,
`v0.0.40_job_info`, `v0.0.40_job_state`, `v0.0.40_process_exit_code_verbose`, `v0.0.40_uint32_no_val`,
`v0.0.40_uint64_no_val`, `v0.0.40_openapi_ping_array_resp`, `v0.0.40_controller_ping`, `v0.0.40_openapi_error`),
cross-checked with a real 23.11.10 body (rackslab/Slurm-web `slurmweb/tests/assets/slurmrestd/23.11/
slurm-job-failed.json`) and live captures from Slurm 24.11.5 (tests/fixtures/slurmrestd/24.11/v0.0.40/).

The submit body is unchanged from v0.0.39 (same types for every field we send; `script` "must be specified in
first component of jobs or in job if this field is not populated"); ping stays `{hostname, pinged, latency,
mode}`, errors `{description, error_number, error, source}`. Paths are unchanged: GET /jobs (with
`update_time`), GET and DELETE /job/{job_id}, POST /job/submit, GET /ping (the schema spells some with a
trailing slash; slurmrestd matches path components, as 22.05 did for /ping).
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2311Format


class V0040Adapter(Slurm2311Format):
    version = "v0.0.40"
