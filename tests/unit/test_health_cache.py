"""The Slurm scheduler's /health ping: served stale while one background ping refreshes it, and
reasons that name the failing part only (paths, URLs and slurmrestd's bodies stay in `detail`)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from service.schedulers.health_cache import HealthCache
from service.schedulers.slurm_rest.scheduler import HEALTH_CACHE_S, SlurmRestScheduler
from tests.unit.test_slurm_rest_scheduler import API, META, PING_UP, URL, Clock, FakeJWT, statuses

CALLERS = 20


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def scheduler(clock):
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.38", partition="debug", jwt=FakeJWT(),
                               poll_secs=5, start=False, clock=clock)
    yield sched
    sched.shutdown()


def test_health_calls_do_not_wait_for_a_slow_ping(scheduler, clock, requests_mock):
    """slurmctld is down: slurmrestd holds the ping until its timeout (here: until `release`).
    Concurrent /health calls meanwhile get the last answer at once, and only one ping is sent."""
    release, pinging = threading.Event(), threading.Event()
    caller = threading.local()  # set on the threads that call health(), as the API's workers would

    def slow_ping(request, context):
        if getattr(caller, "is_caller", False):
            raise AssertionError("a health() caller ran the ping itself, waiting for slurmrestd")
        pinging.set()
        release.wait()
        return {"meta": META, "errors": [], "pings": [{"hostname": "ctl", "ping": "DOWN", "status": -1,
                                                       "mode": "primary"}]}

    def health() -> dict[str, str]:
        caller.is_caller = True
        return statuses(scheduler.health())

    requests_mock.get(f"{API}/ping", json=PING_UP)
    assert health()["slurmctld"] == "healthy"
    clock.now += HEALTH_CACHE_S
    requests_mock.get(f"{API}/ping", json=slow_ping)
    try:
        with ThreadPoolExecutor(CALLERS) as pool:
            answers = list(pool.map(lambda _: health(), range(CALLERS)))
        pinging.wait()
        assert [a["slurmctld"] for a in answers] == ["healthy"] * CALLERS  # the last answer, served stale
        assert health()["slurmctld"] == "healthy"  # still, while the ping is in flight
        assert len(requests_mock.request_history) == 2  # the first ping and one refresh
    finally:
        release.set()
    scheduler.pings.wait()
    assert health()["slurmctld"] == "unhealthy"
    assert len(requests_mock.request_history) == 2


@pytest.mark.parametrize("ping,component,reason", [
    ({"exc": requests.exceptions.ConnectionError("refused")}, "slurmrestd", "slurmrestd is unreachable"),
    ({"status_code": 500, "json": {"meta": META, "errors": [
        {"description": "Unable to contact slurm controller at 10.1.2.3", "error_number": -1,
         "error": "Unspecified error", "source": "slurm_ping"}]}},
     "slurmctld", "slurmrestd answered HTTP 500: slurmctld unreachable, or the service's token refused"),
    ({"json": {"meta": META, "errors": [], "pings": [{"hostname": "ctl-10.1.2.3", "ping": "DOWN", "status": -1,
                                                      "mode": "primary"}]}},
     "slurmctld", "slurmctld does not answer slurmrestd's ping (a controller is not UP)"),
    ({"status_code": 401, "text": "Authentication failure at 10.1.2.3"}, "slurm_token",
     "slurmrestd refused the service's token (HTTP 401)"),
])
def test_ping_reasons_name_the_part_and_keep_urls_and_bodies_for_the_log(scheduler, requests_mock, ping, component,
                                                                         reason):
    requests_mock.get(f"{API}/ping", **ping)
    check = scheduler.health()[component]
    assert (check.status, check.reason) == ("unhealthy", reason)
    assert URL in check.detail or "10.1.2.3" in check.detail  # what an operator needs, in the log only


def test_the_first_answer_is_awaited_for_a_bounded_time_then_unknown():
    """Before any ping answered there is nothing to serve: the first calls wait at most
    `first_wait_s` (0 here) and get None, which the scheduler reports as "unknown"."""
    release = threading.Event()
    cache = HealthCache(release.wait, max_age_s=5, first_wait_s=0, name="test probe")
    try:
        assert cache.get() is None and cache.get() is None
    finally:
        release.set()
    cache.wait()
    assert cache.get() is True


def test_a_probe_that_raises_is_logged_and_answers_none(caplog):
    def broken():
        raise KeyError("pings")

    cache = HealthCache(broken, max_age_s=5, first_wait_s=60, name="test probe", clock=Clock())
    assert cache.get() is None
    assert [(r.message, r.probe) for r in caplog.records] == [("health probe failed", "test probe")]
    assert cache.get() is None and len(caplog.records) == 1  # retried once the answer is stale, not per call
