"""Settings: environment variables validated at start-up, errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.app import create_app
from service.config import ConfigError, Settings


@pytest.mark.parametrize("value", ["abc", "9300x", "1.5", "9 300"])
def test_non_integer_port_names_the_variable(value):
    with pytest.raises(ConfigError, match="SERVICE_DATAMONKEY_PORT"):
        Settings.from_mapping({"SERVICE_DATAMONKEY_PORT": value})


@pytest.mark.parametrize("value", ["0", "-1", "65536", "100000"])
def test_out_of_range_port_names_the_variable(value):
    with pytest.raises(ConfigError, match="SERVICE_DATAMONKEY_PORT"):
        Settings.from_mapping({"SERVICE_DATAMONKEY_PORT": value})


@pytest.mark.parametrize("value", ["SlurmScheduler", "localscheduler", "Local"])
def test_unknown_scheduler_type_names_the_variable(value):
    with pytest.raises(ConfigError, match="SCHEDULER_TYPE") as caught:
        Settings.from_mapping({"SCHEDULER_TYPE": value})
    assert "LocalScheduler" in str(caught.value)  # and says what is allowed


@pytest.mark.parametrize("name,value", [
    ("SESSION_MODE", "sometimes"),
    ("DATASET_TRACKER_TYPE", "SqlDatasetTracker"),
    ("JOB_TRACKER_TYPE", "RedisJobTracker"),
    ("LOG_LEVEL", "LOUD"),
    ("DATASET_MAX_BYTES", "0"),
    ("DATASET_MAX_BYTES", "lots"),
    ("LOCAL_MAX_CONCURRENT_JOBS", "0"),
    ("SLURM_JWT_EXPIRATION_SECS", "-5"),
])
def test_other_bad_values_name_their_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_mapping({name: value})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_values_are_converted_and_blank_means_default():
    settings = Settings.from_mapping({
        "SERVICE_DATAMONKEY_PORT": "8080", "DATASET_LOCATION": "/srv/ds", "DATASET_MAX_BYTES": "2048",
        "SESSION_MODE": "auto", "LOG_LEVEL": "debug", "JOB_WORK_LOCATION": "",
    })
    assert settings.SERVICE_DATAMONKEY_PORT == 8080
    assert settings.DATASET_LOCATION == Path("/srv/ds")
    assert settings.DATASET_MAX_BYTES == 2048
    assert settings.SESSION_MODE == "auto"
    assert settings.JOB_WORK_LOCATION == Settings.from_mapping({}).JOB_WORK_LOCATION


def test_defaults_are_valid():
    settings = Settings.from_mapping({})
    assert settings.SCHEDULER_TYPE == "LocalScheduler"
    assert settings.SERVICE_DATAMONKEY_PORT == 9300
    assert settings.SESSION_MODE == "anonymous"
    assert settings.LOCAL_MAX_CONCURRENT_JOBS >= 1


def test_slurm_submit_path_defaults_to_the_api_path():
    assert Settings.from_mapping({"SLURM_REST_API_PATH": "/slurm/v0.0.39"}).slurm_submit_api_path == "/slurm/v0.0.39"
    assert Settings.from_mapping({"SLURM_REST_SUBMIT_API_PATH": "/x"}).slurm_submit_api_path == "/x"


def test_environment_is_read_and_overrides_win(monkeypatch):
    monkeypatch.setenv("SERVICE_DATAMONKEY_PORT", "9400")
    monkeypatch.setenv("SESSION_MODE", "auto")
    settings = Settings.from_environ({"SESSION_MODE": "anonymous"})
    assert settings.SERVICE_DATAMONKEY_PORT == 9400
    assert settings.SESSION_MODE == "anonymous"


def test_a_bad_environment_variable_stops_create_app(monkeypatch, settings_overrides):
    monkeypatch.setenv("SERVICE_DATAMONKEY_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="SERVICE_DATAMONKEY_PORT"):
        create_app()


def test_create_app_refuses_an_unknown_scheduler(settings_overrides):
    with pytest.raises(ConfigError, match="SCHEDULER_TYPE"):
        create_app(Settings.from_environ({**settings_overrides, "SCHEDULER_TYPE": "PBSScheduler"}))


@pytest.mark.parametrize("name", ["METHOD_TIME_LIMIT_MIN", "METHOD_CPUS", "METHOD_MEMORY_MB"])
def test_negative_resource_override_names_the_variable(name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_mapping({name: "-1"})


def test_resource_overrides_are_only_the_variables_set():
    assert Settings.from_mapping({}).resource_overrides == {}
    assert Settings.from_mapping({"METHOD_CPUS": "4", "METHOD_MEMORY_MB": "0", "METHOD_TIME_LIMIT_MIN": "30"}
                                 ).resource_overrides == {"cpus": 4, "time_limit_min": 30}


STORE_PATHS = ("DATASET_LOCATION", "JOB_TRACKER_LOCATION", "JOB_WORK_LOCATION", "SESSION_LOCATION")


def test_default_stores_are_absolute_under_the_start_directory(tmp_path, monkeypatch):
    """Jobs run with their own directory as cwd: a relative store path would mean another place there."""
    monkeypatch.chdir(tmp_path)
    for name in STORE_PATHS:
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_environ()
    for name in STORE_PATHS:
        assert getattr(settings, name) == tmp_path / getattr(Settings, name), name


def test_configured_relative_paths_resolve_against_the_start_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_mapping({"JOB_WORK_LOCATION": "work/../jobs", "DATASET_LOCATION": "/srv/ds"})
    assert settings.JOB_WORK_LOCATION == tmp_path / "jobs"
    assert settings.DATASET_LOCATION == Path("/srv/ds")
