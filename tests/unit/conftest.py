"""Unit-test fixtures: apps built on a fake scheduler (no HyPhy runs) when a test names one.

Every app is built for real (spec parsed and validated by Connexion, ~0.2 s): no patched internals."""

from __future__ import annotations

import pytest

from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import FakeScheduler

#: Fixtures that are schedulers: a test naming one gets its apps built on it (no HyPhy runs).
SCHEDULER_FIXTURES = ("slurm_fake", "fake")


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def make_app(make_app, request):
    """tests/conftest.py's factory, on the scheduler fixture the test names (else the configured
    scheduler); `make_app(scheduler=…)` picks one explicitly."""
    named = next((request.getfixturevalue(name) for name in SCHEDULER_FIXTURES if name in request.fixturenames), None)

    def build(scheduler=None, **extra):
        return make_app(scheduler=scheduler or named, **extra)

    return build


@pytest.fixture
def services(app):
    return app.app.extensions["datamonkey"]


@pytest.fixture
def adh_id(client) -> str:
    """The anonymous user's ADH codon alignment (NEXUS with an embedded, unlabelled tree)."""
    return upload_id(client, ADH_NEXUS, name="adh")
