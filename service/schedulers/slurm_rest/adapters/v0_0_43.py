"""REST API v0.0.43 (Slurm 25.05; served by 26.05): composed as v0.0.42 is. The live daemon's schema
(Debian forky's Slurm 26.05.5, `GET /openapi/v3`; fixtures by scripts/capture-slurm-fixtures.sh) has the
same submit request, job record, listing parameters, cancel answer and ping entry for the fields we use."""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2411Format


class V0043Adapter(Slurm2411Format):
    version = "v0.0.43"
