"""Application factory: the domain services assembled from settings, served over HTTP by service/api.

`create_app(settings, scheduler=…)` builds everything (Flask-style: tests pass their own
settings and, to run no HyPhy, their own scheduler), wires the services into the Connexion app
(service/api/application.py) and recovers the jobs a previous process left.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass

from service import hyphy, metrics
from service.api import application
from service.config import Settings
from service.datasets.service import DatasetService
from service.identity import Sessions, load_api_tokens
from service.jobs import JobService
from service.methods.capabilities import MethodCatalog, provider_for
from service.observability import configure_logging
from service.schedulers import build_scheduler
from service.schedulers.base import Scheduler
from service.trackers.datasets import FileDatasetTracker
from service.trackers.jobs import FileJobTracker

@dataclass
class Services:
    settings: Settings
    sessions: Sessions
    datasets: DatasetService
    jobs: JobService
    scheduler: Scheduler
    #: The method registry as the HyPhy that runs the jobs can run it (GET /methods, validation).
    methods: MethodCatalog


def create_app(settings: Settings | None = None, *, scheduler: Scheduler | None = None,
               validate_responses: bool = False) -> application.App:
    """The app for `settings` (default: the environment), its jobs on `scheduler` (default: the
    one SCHEDULER_TYPE names). `validate_responses`: check every answer against openapi.yaml."""
    settings = settings or Settings.from_environ()
    configure_logging(settings.LOG_LEVEL)
    services = build_services(settings, scheduler)
    # this app's own metrics registry (jobs over its tracker, its request latency): see service/metrics.py
    app_metrics = metrics.AppMetrics(services.jobs.tracker, services.jobs.refresh_active)
    return application.build(services, app_metrics, validate_responses=validate_responses)


def build_services(settings: Settings, scheduler: Scheduler | None = None) -> Services:
    scheduler = scheduler or build_scheduler(settings)
    dataset_tracker = FileDatasetTracker(settings.DATASET_LOCATION)
    dataset_tracker.sweep_incoming()  # what a killed process left half-uploaded
    hyphy_binary = hyphy.pick_binary(settings.HYPHY_BINARY)
    methods = MethodCatalog(provider_for(scheduler, settings.JOB_WORK_LOCATION, hyphy_binary))
    # a dataset in use by an active job cannot be deleted: asked of `jobs` only once it exists
    datasets = DatasetService(dataset_tracker, settings.DATASET_MAX_BYTES, lambda ds_id: jobs.active_using(ds_id),
                              max_sequences=settings.DATASET_MAX_SEQUENCES, max_sites=settings.DATASET_MAX_SITES)
    jobs = JobService(
        datasets=datasets,
        tracker=FileJobTracker(settings.JOB_TRACKER_LOCATION),
        scheduler=scheduler,
        work_root=settings.JOB_WORK_LOCATION,
        hyphy_binary=hyphy_binary,
        resource_overrides=settings.resource_overrides,
        methods=methods,
    )
    jobs.recover()
    atexit.register(scheduler.shutdown)
    return Services(
        settings=settings,
        sessions=Sessions(settings.SESSION_LOCATION, settings.SESSION_MODE,
                          load_api_tokens(settings.SERVICE_API_TOKENS, settings.SERVICE_API_TOKENS_FILE)),
        datasets=datasets,
        jobs=jobs,
        scheduler=scheduler,
        methods=methods,
    )
