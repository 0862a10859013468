"""REST API v0.0.38 on Slurm 22.05: the same wire format as v0.0.37 for everything we use
(`dialects.Slurm2205Format`).

Observed differences (reference §3, §5) are in fields we do not read: v0.0.38 adds `container`,
`group_name` and `prefer` to jobs, reshapes `job_resources.allocated_nodes`, drops the trailing
space of `JOB_CPUS_SET`, and adds `/licenses`. So this adapter only names the version.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.dialects import Slurm2205Format


class V0038Adapter(Slurm2205Format):
    version = "v0.0.38"
