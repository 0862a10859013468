"""REST API v0.0.45 (Slurm 26.05): v0.0.44's wire format, but for the ping entry.

Read from the live daemon (Debian forky's Slurm 26.05.5, `GET /openapi/v3`; fixtures recorded by
scripts/capture-slurm-fixtures.sh): the ping entry drops `pinged` and `mode` for `{hostname, responding,
latency, primary, status}` (status "No error"); `responding` is what v0.0.39's ping check reads first, so
only the version changes. `job.environment` is now documented as required, which we always send.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.v0_0_44 import V0044Adapter


class V0045Adapter(V0044Adapter):
    version = "v0.0.45"
