"""REST API v0.0.44 (Slurm 25.11; served by 26.05): v0.0.43's wire format for everything we send and read.

Read from the live daemon (Debian forky's Slurm 26.05.5, `GET /openapi/v3`; fixtures recorded by
scripts/capture-slurm-fixtures.sh): same submit request, job record, listing parameters and ping entry as
v0.0.43 for the fields the service uses.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.v0_0_43 import V0043Adapter


class V0044Adapter(V0043Adapter):
    version = "v0.0.44"
