"""REST API v0.0.43 (Slurm 25.05; served by 26.05): v0.0.42's wire format for everything we send and read.

Read from the live daemon (Debian forky's Slurm 26.05.5, `GET /openapi/v3`; fixtures recorded by
scripts/capture-slurm-fixtures.sh): same submit request, job record, listing parameters and ping entry as
v0.0.42 for the fields the service uses.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.v0_0_42 import V0042Adapter


class V0043Adapter(V0042Adapter):
    version = "v0.0.43"
