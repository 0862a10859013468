"""REST API v0.0.45 (Slurm 26.05): v0.0.44's wire format, but for the ping entry.

Read from the live daemon (Debian forky's Slurm 26.05.5, `GET /openapi/v3`; fixtures recorded by
scripts/capture-slurm-fixtures.sh): the ping entry drops `pinged` and `mode` for `{hostname, responding,
latency, primary, status}` (status "No error"); `responding` is what the data_parser ping check reads first,
so the composition is v0.0.44's. `job.environment` is now documented as required, which we always send.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2411Format


class V0045Adapter(Slurm2411Format):
    version = "v0.0.45"
