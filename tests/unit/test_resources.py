"""Per-job resources: the method registry's defaults, replaced by METHOD_CPUS / METHOD_MEMORY_MB /
METHOD_TIME_LIMIT_MIN when set, reach the scheduler and the job record."""

from __future__ import annotations

from service.methods import METHODS
from tests.unit.fakes import FakeScheduler
from tests.unit.helpers import start_ok


def submitted_resources(make_app, adh_id_for, method="fel", **settings):
    scheduler = FakeScheduler()
    app = make_app(scheduler=scheduler, **settings)
    client = app.test_client()
    job_id = start_ok(client, method, {"alignment": adh_id_for(client)})["job_id"]
    spec = scheduler.submitted[job_id]
    record = app.app.extensions["datamonkey"].jobs.tracker.get(job_id)
    return (spec.cpus, spec.memory_mb, spec.time_limit_min), record.resources, spec.argv


def adh(client):
    from tests.conftest import ADH_NEXUS, upload_id

    return upload_id(client, ADH_NEXUS)


def test_the_registry_defaults_apply_when_nothing_is_set(make_app):
    defaults = METHODS["meme"].resources
    (cpus, memory, minutes), record, _ = submitted_resources(make_app, adh, "meme")
    assert (cpus, memory, minutes) == (defaults.cpus, defaults.memory_mb, defaults.time_limit_min)
    assert record == {"cpus": defaults.cpus, "memory_mb": defaults.memory_mb, "time_limit_min": defaults.time_limit_min}


def test_set_variables_replace_the_defaults_and_reach_hyphy(make_app):
    defaults = METHODS["fel"].resources
    (cpus, memory, minutes), record, argv = submitted_resources(make_app, adh, METHOD_CPUS=2, METHOD_MEMORY_MB=3000)
    assert (cpus, memory, minutes) == (2, 3000, defaults.time_limit_min)
    assert record == {"cpus": 2, "memory_mb": 3000, "time_limit_min": defaults.time_limit_min}
    assert "CPU=2" in argv
