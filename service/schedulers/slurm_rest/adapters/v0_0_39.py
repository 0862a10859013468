"""REST API v0.0.39 (Slurm 23.02): the first data_parser format (`dialects.DataParserFormat`: wrapped numbers,
a list environment, `job.script`, the verbose exit code, `pinged`); `job_state` is still a string and the submit
answer has no `result`.

Schema used: SchedMD's generated Slurm 23.02 REST reference (`rest_api.shtml`, models `v0.0.39_job_submission`,
`v0.0.39_job_desc_msg`, `v0.0.39_job_info`, `v0.0.39_controller_ping`, `v0.0.39_error`,
`v0.0.39_job_submission_response`), cross-checked with the client generated from it
(heromicro/slurmrestapi.py `docs/V0039JobDescMsg.md`, `docs/V0039JobSubmission.md`) and with real 23.02.8
bodies recorded by rackslab/Slurm-web (`slurmweb/tests/assets/slurmrestd/23.02/slurm-jobs.json`, `slurm-ping.json`).
A trimmed transcription is in tests/fixtures/slurmrestd/v0.0.39/openapi-trimmed.json.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import DataParserFormat


class V0039Adapter(DataParserFormat):
    version = "v0.0.39"
