"""The Slurm back end over slurmrestd: version adapters, batch script, state table, informer cache."""

from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler

__all__ = ["SlurmRestScheduler"]
