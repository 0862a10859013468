"""Locked-down mode (SERVICE_API_TOKENS / SERVICE_API_TOKENS_FILE): only configured tokens, no anonymous use."""

from __future__ import annotations

import logging

import pytest

from service.api.spec import load_spec
from service.config import ConfigError, Settings
from tests.conftest import ADH_NEXUS, upload_id
from tests.unit.helpers import start_ok
from tests.unit.test_ownership_walk import PUBLIC, walk

ALICE = "alice-configured-token-7d41"
BOB = "bob-configured-token-93ac0e"
STRANGER = "stranger-token-not-configured"


@pytest.fixture
def locked(make_app, tmp_path):
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# deployment tokens\n{BOB}\n\n")
    return make_app(SERVICE_API_TOKENS=ALICE, SERVICE_API_TOKENS_FILE=str(token_file))


def test_configured_tokens_work_from_the_variable_and_the_file(locked):
    client = locked.test_client()
    for token in (ALICE, BOB):
        dataset = upload_id(client, ADH_NEXUS, token=token)
        assert client.get(f"/api/v1/datasets/{dataset}", headers={"user_token": token}).status_code == 200


def test_every_operation_but_health_and_methods_refuses_anonymous_and_unknown_tokens(locked, fake):
    client = locked.test_client()
    alice = {"dataset": upload_id(client, ADH_NEXUS, token=ALICE)}
    alice["job"] = start_ok(client, "fel", {"alignment": alice["dataset"]}, token=ALICE)["job_id"]
    for caller in ({}, {"user_token": STRANGER}):
        for (verb, path), call in walk(client, alice).items():
            response = call(caller)
            assert response.status_code == 401, (caller, verb, path, response.status_code, response.text)
            assert response.json()["code"] == 401 and response.json()["request_id"]
            assert STRANGER not in response.text
    for verb, path in PUBLIC:
        assert client.request(verb.upper(), f"/api/v1{path}").status_code == 200
    assert fake.cancelled == [] and list(fake.submitted) == [alice["job"]]


def test_tokens_never_reach_the_logs(locked, caplog):
    client = locked.test_client()
    with caplog.at_level(logging.DEBUG):
        upload_id(client, ADH_NEXUS, token=ALICE)
        client.get("/api/v1/datasets", headers={"user_token": STRANGER})
    assert caplog.records
    assert ALICE not in caplog.text and STRANGER not in caplog.text


@pytest.mark.parametrize("settings,problem", [
    ({"SERVICE_API_TOKENS": "short"}, "SERVICE_API_TOKENS: every token must be 16-512 characters"),
    ({"SERVICE_API_TOKENS": "a token with spaces inside"}, "without spaces"),
    ({"SERVICE_API_TOKENS_FILE": "/nonexistent/tokens"}, "SERVICE_API_TOKENS_FILE /nonexistent/tokens cannot be read"),
    ({"SERVICE_API_TOKENS": ALICE, "SESSION_MODE": "auto"}, "cannot be combined"),
])
def test_bad_token_configuration_fails_at_start_up_without_echoing_tokens(settings, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        Settings.from_mapping(settings)
    for value in settings.values():
        if value not in ("auto", "/nonexistent/tokens"):
            assert value not in str(caught.value)


def test_the_public_operations_exist_in_the_spec():
    assert PUBLIC <= {(verb, path) for path, item in load_spec()["paths"].items() for verb in item}
