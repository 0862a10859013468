"""REST API v0.0.41 (Slurm 24.05): the same wire format as v0.0.40 for everything we send and read.

Schema used: the generated v0.0.41 OpenAPI document in SlinkyProject/slurm-client
`api/v0041/slurm-openapi.gen.json` (components `v0.0.41_job_submit_req`, `v0.0.41_job_desc_msg`,
`v0.0.41_openapi_job_submit_response`, `v0.0.41_openapi_job_info_resp`, `v0.0.41_job_info`,
`v0.0.41_process_exit_code_verbose`, `v0.0.41_uint{16,32,64}_no_val_struct`, `v0.0.41_openapi_ping_array_resp`,
`v0.0.41_controller_ping`, `v0.0.41_openapi_error`), and live captures from Slurm 24.11.5
(tests/fixtures/slurmrestd/24.11/v0.0.41/).

Differences from v0.0.40 are in things we do not depend on: the top-level `script` of the submit request and
the submit response's `result` are now `deprecated` (we send `job.script`; `job_id`/`errors` stay top level),
enums are inlined, the number wrappers are renamed `*_no_val_struct` (same `{set, infinite, number}`), and
`job_resources` is reshaped. `job_state` is still a list, `exit_code` still the verbose object, the ping entry
still `{hostname, pinged, latency, mode}`, and `update_time` still a time string. So this adapter is composed
as v0.0.40's is.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2311Format


class V0041Adapter(Slurm2311Format):
    version = "v0.0.41"
