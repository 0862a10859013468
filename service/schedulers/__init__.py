"""Scheduler backends behind one interface (base.Scheduler); `build_scheduler` picks one."""

from __future__ import annotations

from service.config import Settings
from service.schedulers.base import Scheduler
from service.schedulers.local import LocalScheduler

#: SCHEDULER_TYPE value → factory. One entry per backend module.
BACKENDS = {
    "LocalScheduler": lambda settings: LocalScheduler(settings.LOCAL_MAX_CONCURRENT_JOBS),
    "SlurmRestScheduler": lambda settings: _slurm_rest(settings),
}


def _slurm_rest(settings: Settings) -> Scheduler:
    from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler  # requests + APScheduler only when used

    return SlurmRestScheduler.from_settings(settings)


def build_scheduler(settings: Settings) -> Scheduler:
    return BACKENDS[settings.SCHEDULER_TYPE](settings)
