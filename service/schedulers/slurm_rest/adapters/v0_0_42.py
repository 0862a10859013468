"""REST API v0.0.42 (Slurm 24.11; also served by 25.05–26.05): v0.0.41's wire format for everything we send
and read, but for `update_time` (an epoch again) and a refused cancel (`PerJobCancelStatus`).

Read from the live daemon (Debian trixie's Slurm 24.11.5 and forky's 26.05.5, `GET /openapi/v3`, recorded
by scripts/capture-slurm-fixtures.sh into tests/fixtures/slurmrestd/): the submit request keeps `job`
(`environment` a string array, `memory_per_node`/`time_limit` as `*_no_val_struct`, `cpus_per_task` an
integer), `job_state` is a list, `exit_code` the verbose object, the listing still takes `update_time` and
answers `last_update`. The ping entry adds `responding` and `primary` beside `pinged`/`mode`; the data_parser
ping check prefers `responding` already. `update_time` is an epoch number again (v0.0.40 and v0.0.41 refuse
one, even on 24.11), so this adapter sends `last_update` as it is: no clock of ours involved.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2411Format


class V0042Adapter(Slurm2411Format):
    version = "v0.0.42"
