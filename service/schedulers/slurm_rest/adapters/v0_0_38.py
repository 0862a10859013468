"""REST API v0.0.38 on Slurm 22.05: the same wire format as v0.0.37 for everything we use.

Observed differences (reference §3, §5) are in fields we do not read: v0.0.38 adds `container`,
`group_name` and `prefer` to jobs, reshapes `job_resources.allocated_nodes`, drops the trailing
space of `JOB_CPUS_SET`, and adds `/licenses`. So this adapter only changes the version.
"""

from __future__ import annotations

from service.schedulers.slurm_rest.adapters.v0_0_37 import V0037Adapter


class V0038Adapter(V0037Adapter):
    version = "v0.0.38"
