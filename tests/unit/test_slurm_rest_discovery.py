"""SLURM_REST_API_PATH=auto: the newest REST API version slurmrestd lists in /openapi/v3 that has
an adapter, read at the first call that needs it (requests-mock; the live stacks run it for real)."""

import pytest
import requests

from service.config import ConfigError, Settings
from service.schedulers.base import HEALTHY, UNHEALTHY, SchedulerUnavailable
from service.schedulers.slurm_rest.adapters import ADAPTERS
from service.schedulers.slurm_rest.discovery import ApiVersion, newest_supported, served_versions
from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler
from tests.unit.test_slurm_rest_scheduler import FakeJWT, Clock, jobs_body, raw_job

URL = "http://slurm.test:6820"


def openapi(*versions, dbd=True):
    paths = {}
    for version in versions:
        paths[f"/slurm/{version}/jobs"] = {"get": {}}
        paths[f"/slurm/{version}/ping"] = {"get": {}}
        if dbd:
            paths[f"/slurmdb/{version}/jobs"] = {"get": {}}
    return {"openapi": "3.0.2", "paths": paths}


def test_served_versions_reads_the_slurm_paths_only():
    assert served_versions(openapi("v0.0.37", "v0.0.38")) == {"v0.0.37", "v0.0.38"}
    assert served_versions({"paths": {"/slurmdb/v0.0.99/jobs": {}, "/openapi/v3": {}}}) == set()
    assert served_versions("not a document") == set()


def test_newest_supported_compares_numerically_and_skips_unknown_versions():
    assert newest_supported({"v0.0.9", "v0.0.10"} | set(ADAPTERS)) == max(ADAPTERS, key=lambda v: int(v.split(".")[-1]))
    assert newest_supported({"v0.0.36", "v0.0.37", "v0.0.38"}) == "v0.0.38"
    assert newest_supported({"v0.0.99", "v0.0.37"}) == "v0.0.37"
    assert newest_supported({"v0.0.35"}) is None


@pytest.fixture
def auto_scheduler():
    jwt = FakeJWT()
    sched = SlurmRestScheduler(base_url=URL, api_path="auto", partition="debug", jwt=jwt, poll_secs=5,
                               start=False, clock=Clock())
    yield sched
    sched.shutdown()


def test_auto_reads_openapi_once_then_speaks_the_newest_version(auto_scheduler, requests_mock):
    document = requests_mock.get(f"{URL}/openapi/v3", json=openapi("v0.0.36", "v0.0.37", "v0.0.38"))
    listing = requests_mock.get(f"{URL}/slurm/v0.0.38/jobs", json=jobs_body(raw_job(7, "datamonkey-x")))
    assert auto_scheduler.informer.poll_once()
    assert auto_scheduler.informer.poll_once()
    assert document.call_count == 1 and listing.call_count == 2
    assert auto_scheduler.informer.get(7).state == "PENDING"
    assert auto_scheduler.client.adapter.version == "v0.0.38"
    assert auto_scheduler.submit_client.adapter is auto_scheduler.client.adapter  # one version, one read


def test_auto_retries_the_read_after_slurmrestd_was_down(auto_scheduler, requests_mock):
    requests_mock.get(f"{URL}/openapi/v3", exc=requests.ConnectionError("refused"))
    assert not auto_scheduler.informer.poll_once()
    assert "unreachable" in auto_scheduler.informer.last_error
    requests_mock.get(f"{URL}/openapi/v3", json=openapi("v0.0.37"))
    requests_mock.get(f"{URL}/slurm/v0.0.37/jobs", json=jobs_body())
    assert auto_scheduler.informer.poll_once()


def test_auto_refreshes_a_refused_token_once_for_the_document(auto_scheduler, requests_mock):
    requests_mock.get(f"{URL}/openapi/v3", [{"status_code": 401, "text": "Authentication failure"},
                                            {"json": openapi("v0.0.38")}])
    requests_mock.get(f"{URL}/slurm/v0.0.38/jobs", json=jobs_body())
    assert auto_scheduler.informer.poll_once()
    assert auto_scheduler.jwt.refreshes == 1


def test_no_supported_version_is_an_unhealthy_slurmrestd_that_names_the_versions(auto_scheduler, requests_mock):
    requests_mock.get(f"{URL}/openapi/v3", json=openapi("v0.0.35", "v0.0.99"))
    with pytest.raises(SchedulerUnavailable, match=r"serves REST API v0\.0\.35, v0\.0\.99; this service supports"):
        auto_scheduler.client.adapter
    checks = auto_scheduler.health()
    assert checks["slurmrestd"].status == UNHEALTHY
    assert checks["slurmrestd"].reason == "slurmrestd serves no REST API version this service supports"
    assert "v0.0.99" not in checks["slurmrestd"].reason  # /health is public: the versions go to the log


def test_health_reports_release_and_version_in_use(auto_scheduler, requests_mock):
    requests_mock.get(f"{URL}/openapi/v3", json=openapi("v0.0.38"))
    requests_mock.get(f"{URL}/slurm/v0.0.38/ping", json={
        "meta": {"Slurm": {"release": "22.05.8"}}, "errors": [],
        "pings": [{"hostname": "c", "ping": "UP", "status": 0, "mode": "primary"}]})
    assert auto_scheduler.health()["slurmctld"].status == HEALTHY
    assert auto_scheduler.describe() == {"slurm_release": "22.05.8", "slurm_api_version": "v0.0.38"}


def test_an_explicit_path_wins_and_never_reads_the_document(requests_mock):
    version = ApiVersion("/slurm/v0.0.37")
    assert version.known.version == "v0.0.37"
    assert version.adapter(lambda: pytest.fail("read the document")).version == "v0.0.37"


@pytest.mark.parametrize("value", ["auto", "/slurm/v0.0.38"])
def test_settings_accept_auto_and_explicit_paths(value, tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    settings = Settings.from_mapping({"SCHEDULER_TYPE": "SlurmRestScheduler", "SLURM_JWT_KEY_PATH": str(key),
                                      "SLURM_JWT_USERNAME": "dm", "SLURM_REST_API_PATH": value})
    assert settings.SLURM_REST_API_PATH == value


def test_settings_default_to_auto_and_refuse_unknown_paths(tmp_path):
    assert Settings.SLURM_REST_API_PATH == "auto"
    with pytest.raises(ConfigError, match="SLURM_REST_API_PATH"):
        Settings.from_mapping({"SCHEDULER_TYPE": "SlurmRestScheduler", "SLURM_JWT_KEY_PATH": str(tmp_path / "k"),
                               "SLURM_JWT_USERNAME": "dm", "SLURM_REST_API_PATH": "/slurm/v0.0.99"})
