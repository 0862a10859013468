"""REST API v0.0.42 (Slurm 24.11; also served by 25.05–26.05): v0.0.41's wire format for everything we send
and read.

Read from the live daemon (Debian trixie's Slurm 24.11.5 and forky's 26.05.5, `GET /openapi/v3`, recorded
by scripts/capture-slurm-fixtures.sh into tests/fixtures/slurmrestd/): the submit request keeps `job`
(`environment` a string array, `memory_per_node`/`time_limit` as `*_no_val_struct`, `cpus_per_task` an
integer), `job_state` is a list, `exit_code` the verbose object, the listing still takes `update_time` and
answers `last_update`. The ping entry adds `responding` and `primary` beside `pinged`/`mode`; v0.0.39's
ping check prefers `responding` already. `update_time` is an epoch number again (v0.0.40 and v0.0.41 refuse one,
even on 24.11; see v0_0_40.py), so this adapter sends `last_update` as it is: no clock of ours involved.
A cancel slurmctld refuses is still a 200 with no `errors`: the reason is in a per-job `status` list
(`{"error": {"code": 2017, "string": "Invalid job id specified"}, "job_id": …}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.schedulers.slurm_rest.adapters.base import RestAdapter, SlurmError
from service.schedulers.slurm_rest.adapters.v0_0_41 import V0041Adapter


class V0042Adapter(V0041Adapter):
    version = "v0.0.42"

    update_time_param = RestAdapter.update_time_param  # the epoch again, not v0.0.40's time string

    def parse_cancel(self, body: Any) -> list[SlurmError]:
        entries = body.get("status") if isinstance(body, Mapping) else None
        refused = [entry["error"] for entry in entries or [] if isinstance(entry, Mapping)
                   and isinstance(entry.get("error"), Mapping) and entry["error"].get("code")]
        return self.parse_errors(body) + [
            SlurmError(code=e["code"] if isinstance(e["code"], int) else None,
                       message=str(e.get("string") or e.get("message") or ""), source="job cancel")
            for e in refused]
