"""REST API v0.0.37 as served by Slurm 22.05: the 22.05 wire format (`dialects.Slurm2205Format`, shared
with v0.0.38; facts from ../shared/reference/slurmrestd-22.05.md §3-§6)."""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2205Format


class V0037Adapter(Slurm2205Format):
    version = "v0.0.37"
