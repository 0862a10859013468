"""Unit-test fixtures: the app from tests/conftest.py with a FakeScheduler (no HyPhy runs)."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from connexion.spec import OpenAPISpecification

from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.fakes import FakeScheduler


@pytest.fixture(scope="package", autouse=True)
def load_and_check_the_spec_once():
    """Parse and schema-check each OpenAPI text once for tests/unit, not once per app.

    Every endpoint test builds a fresh app (fresh data directories), and `create_app` parses the
    2,700-line openapi.yaml twice with PyYAML's pure-Python loader and has Connexion validate it
    against the OpenAPI schema: ~0.5 s per app, which would dominate the suite. Both are pure
    functions of the text, so they are memoised here (same loader, same validator, results
    deep-copied); the first app still does both for real, the patch ends with tests/unit, and
    tests/contract checks the spec with openapi_spec_validator on its own.
    """
    load_yaml = yaml.safe_load
    parsed: dict[str, object] = {}

    def safe_load(stream):
        if not isinstance(stream, str):
            return load_yaml(stream)
        if stream not in parsed:
            parsed[stream] = load_yaml(stream)
        return copy.deepcopy(parsed[stream])

    validate_spec = OpenAPISpecification._validate_spec.__func__
    validated: set[str] = set()

    def validate_once(cls, spec):
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in validated:
            validate_spec(cls, spec)  # raises on an invalid spec, so only valid ones are remembered
            validated.add(key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml, "safe_load", safe_load)
        patch.setattr(OpenAPISpecification, "_validate_spec", classmethod(validate_once))
        yield


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
