"""GET /metrics (and /api/v1/metrics): Prometheus exposition parsed with prometheus_client's own
parser; request latency by operation, jobs by method and state (cancelled included, from the
tracker's counters: no record read, no scheduler call),
slurmrestd calls and errors (requests-mock), Slurm token refreshes, one registry per app."""

from __future__ import annotations

import dataclasses

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.schedulers.slurm_rest import metrics as slurm_metrics
from service.api.spec import load_spec
from service.app import create_app
from service.config import Settings
from service.schedulers.slurm_rest.token import SlurmJWTManager, SlurmTokenError
from service.schedulers.base import CredentialsRefused
from service.schedulers.base import ClusterCredentials
from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler, SlurmSubmitError
from tests.conftest import store_settings, upload_id
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import PLAIN_TREE, start_ok
from tests.unit.test_slurm_rest_scheduler import API, BAD_TOKEN_JOBS, META, URL, FakeJWT, jobs_body, raw_job, spec

LATENCY = "datamonkey_http_request_duration_seconds"
CALLS, ERRORS = "datamonkey_slurmrestd_calls_total", "datamonkey_slurmrestd_errors_total"
REFRESHES = "datamonkey_slurm_token_refreshes_total"


class Scrape:
    """One scrape: the parsed families and every sample by (name, labels)."""

    def __init__(self, text: str):
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = {(s.name, frozenset(s.labels.items())): s.value
                        for family in self.families.values() for s in family.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for sample_name, labels in self.samples if sample_name == name}


def scrape(client, path: str = "/api/v1/metrics") -> Scrape:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


# -- the endpoint ---------------------------------------------------------------------------
def test_both_paths_serve_the_same_registry_as_one_operation(client):
    before = scrape(client)
    root = scrape(client, "/metrics")
    assert set(before.families) <= set(root.families)
    for family in ("datamonkey_jobs", LATENCY, "datamonkey_slurmrestd_calls", "datamonkey_slurmrestd_errors",
                   "datamonkey_slurm_token_refreshes", "process_cpu_seconds", "python_info"):
        assert family in root.families, family
    assert root.families[LATENCY].type == "histogram" and root.families["datamonkey_jobs"].type == "gauge"
    assert root.families["datamonkey_slurmrestd_calls"].type == "counter"
    # the first scrape is recorded once it has answered: seen by the second one
    assert root.value(f"{LATENCY}_count", operation="getMetrics", status_class="2xx") == 1
    after = scrape(client, "/metrics")
    assert after.value(f"{LATENCY}_count", operation="getMetrics", status_class="2xx") == 2


def test_metrics_is_public_and_only_get(client):
    assert client.get("/metrics", headers={"user_token": "nobody-known-abc123"}).status_code == 200
    assert client.post("/metrics").status_code == 405
    assert client.get("/metrics/extra").status_code == 404


# -- request latency ------------------------------------------------------------------------
def test_latency_counts_each_request_under_its_operation(client):
    before = scrape(client)
    for _ in range(5):
        assert client.get("/api/v1/methods").status_code == 200
    for _ in range(2):
        assert client.get(f"/api/v1/jobs/{'0' * 32}").status_code == 404
    after = scrape(client)

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta(f"{LATENCY}_count", operation="getMethodsList", status_class="2xx") == 5
    assert delta(f"{LATENCY}_bucket", operation="getMethodsList", status_class="2xx", le="+Inf") == 5
    assert delta(f"{LATENCY}_sum", operation="getMethodsList", status_class="2xx") > 0
    assert delta(f"{LATENCY}_count", operation="getJobById", status_class="4xx") == 2
    assert delta(f"{LATENCY}_count", operation="getJobById", status_class="2xx") == 0


def test_unrouted_paths_share_one_label_never_the_path(client):
    before = scrape(client)
    for path in ("/api/v1/no/such/thing", "/elsewhere/abc123", f"/api/v1/{'f' * 40}"):
        assert client.get(path).status_code == 404
    after = scrape(client)
    unmatched = {"operation": metrics.UNMATCHED, "status_class": "4xx"}
    assert after.value(f"{LATENCY}_count", **unmatched) - before.value(f"{LATENCY}_count", **unmatched) == 3
    operation_ids = {op["operationId"] for item in load_spec()["paths"].values() for op in item.values()
                     if isinstance(op, dict) and "operationId" in op}
    assert after.label_values(f"{LATENCY}_count", "operation") <= operation_ids | {metrics.UNMATCHED}


def test_a_server_error_is_counted_as_5xx(client, fake, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.status_error = RuntimeError("scheduler bug")  # not a SchedulerUnavailable: a 500
    before = scrape(client)
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 500
    fake.status_error = None
    after = scrape(client)
    labels = {"operation": "getJobById", "status_class": "5xx"}
    assert after.value(f"{LATENCY}_count", **labels) - before.value(f"{LATENCY}_count", **labels) == 1


# -- jobs -------------------------------------------------------------------------------------
def test_jobs_by_method_and_state(client, fake, adh_id):
    tree = upload_id(client, PLAIN_TREE, name="tree")
    running = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    queued = start_ok(client, "fel", {"alignment": adh_id, "tree": tree})["job_id"]
    done = start_ok(client, "slac", {"alignment": adh_id})["job_id"]
    failed = start_ok(client, "meme", {"alignment": adh_id})["job_id"]
    fake.run(running)
    fake.finish(done, result=GOOD_RESULT)
    fake.finish(failed, exit_code=1)
    first = scrape(client)  # the scrape itself brings the jobs nobody read up to date
    jobs = first.families["datamonkey_jobs"]
    assert {(s.labels["method"], s.labels["state"]): s.value for s in jobs.samples if s.value} == {
        ("fel", "running"): 1, ("fel", "queued"): 1, ("slac", "completed"): 1, ("meme", "error"): 1}
    # every method × state is there, zeros included, and nothing about the jobs themselves
    assert first.value("datamonkey_jobs", method="absrel", state="cancelled") == 0
    assert first.label_values("datamonkey_jobs", "state") == set(metrics.JOB_STATES)
    text = client.get("/metrics").text
    assert not any(job_id in text for job_id in (running, queued, done, failed, adh_id, tree))

    assert client.post(f"/api/v1/jobs/{queued}/cancel").status_code == 200
    second = scrape(client)
    assert second.value("datamonkey_jobs", method="fel", state="cancelled") == 1
    assert second.value("datamonkey_jobs", method="fel", state="queued") == 0
    assert second.value("datamonkey_jobs", method="fel", state="error") == 0  # cancelled, not error
    assert second.value("datamonkey_jobs", method="fel", state="running") == 1
    assert client.delete(f"/api/v1/jobs/{done}").status_code == 204
    assert scrape(client).value("datamonkey_jobs", method="slac", state="completed") == 0


def test_a_scrape_reads_only_the_active_records_in_one_scheduler_call(client, fake, adh_id, monkeypatch):
    """The old collector read every record of every user on each count: final ones are now
    counted from the tracker's counters, only the jobs not yet final are read and refreshed."""
    running = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    for method in ("slac", "meme"):
        fake.finish(start_ok(client, method, {"alignment": adh_id})["job_id"], result=GOOD_RESULT)
    client.get("/api/v1/jobs")  # slac and meme are final now
    tracker = app_tracker(client)
    reads = []
    real_get = tracker.get
    monkeypatch.setattr(tracker, "get", lambda job_id: reads.append(job_id) or real_get(job_id))
    calls = fake.status_calls
    for _ in range(3):
        assert scrape(client).value("datamonkey_jobs", method="slac", state="completed") == 1
    assert set(reads) == {running} and fake.status_calls == calls + 3


def test_an_unknown_method_counts_as_other(client, fake, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    app_tracker(client).update(job_id, method="retired-method")
    after = scrape(client)
    assert after.value("datamonkey_jobs", method="other", state="queued") == 1
    assert after.value("datamonkey_jobs", method="fel", state="queued") == 0


def test_an_unreadable_job_store_does_not_fail_the_scrape(client, fake, adh_id, monkeypatch, tmp_path):
    start_ok(client, "fel", {"alignment": adh_id})
    assert scrape(client).value("datamonkey_jobs", method="fel", state="queued") == 1

    def broken():
        raise PermissionError("counts unreadable")

    monkeypatch.setattr(app_tracker(client), "counts", broken)
    still = scrape(client)  # the last counts are served
    assert still.value("datamonkey_jobs", method="fel", state="queued") == 1
    fresh = create_app(Settings.from_environ(store_settings(tmp_path / "other"))).test_client()
    monkeypatch.setattr(app_tracker(fresh), "counts", broken)
    assert scrape(fresh).families["datamonkey_jobs"].samples == []  # no count yet: none shown


def app_tracker(client):
    return client.app.app.extensions["datamonkey"].jobs.tracker


# -- one registry per app ----------------------------------------------------------------------
def test_each_app_has_its_own_registry(tmp_path):
    first, second = (create_app(Settings.from_environ(store_settings(tmp_path / name))) for name in ("a", "b"))
    create_app(Settings.from_environ(store_settings(tmp_path / "a")))  # and again: never "Duplicated timeseries"
    a, b = first.test_client(), second.test_client()
    for _ in range(3):
        a.get("/api/v1/methods")
    assert scrape(a).value(f"{LATENCY}_count", operation="getMethodsList", status_class="2xx") == 3
    assert scrape(b).value(f"{LATENCY}_count", operation="getMethodsList", status_class="2xx") == 0
    assert first.app.extensions[metrics.EXTENSION].registry is not second.app.extensions[metrics.EXTENSION].registry


# -- slurmrestd ------------------------------------------------------------------------------
@pytest.fixture
def slurm():
    sched = SlurmRestScheduler(base_url=URL, api_path="/slurm/v0.0.38", partition="debug", jwt=FakeJWT(),
                               username="", poll_secs=5, start=False)
    yield sched
    sched.shutdown()


def test_slurmrestd_calls_and_errors_by_endpoint_and_outcome(client, slurm, tmp_path, requests_mock):
    before = scrape(client)
    # a token refused once (fast 500, error -1), then the listing: an unauthorized call and an ok one
    requests_mock.get(f"{API}/jobs", [{"status_code": 500, "json": BAD_TOKEN_JOBS},
                                      {"json": jobs_body(raw_job(6, "datamonkey-a"))}])
    assert slurm.informer.poll_once()
    # a submit: POST job/submit, then GET job/6 (never the id itself in a label)
    requests_mock.post(f"{API}/job/submit", json={"meta": META, "errors": [], "job_id": 6, "step_id": "BATCH"})
    requests_mock.get(f"{API}/job/6", json=jobs_body(raw_job(6, "datamonkey-abc123")))
    slurm.submit(spec(tmp_path))
    # a refusal (HTTP 500, invalid partition), reconciled by a listing
    requests_mock.post(f"{API}/job/submit", status_code=500, json={"meta": META, "errors": [
        {"error_code": 2000, "error": "Invalid partition name specified"}]})
    requests_mock.get(f"{API}/jobs", json=jobs_body())
    with pytest.raises(SlurmSubmitError):
        slurm.submit(spec(tmp_path, "def456"))
    # slurmrestd down
    requests_mock.get(f"{API}/ping", exc=requests.exceptions.ConnectionError("refused"))
    assert slurm.health()
    after = scrape(client)

    def calls(method, endpoint, outcome, name=CALLS):
        labels = {"method": method, "endpoint": endpoint, "outcome": outcome}
        return after.value(name, **labels) - before.value(name, **labels)

    assert calls("GET", "jobs", "unauthorized") == 1 and calls("GET", "jobs", "unauthorized", ERRORS) == 1
    assert calls("GET", "jobs", "ok") == 2 and calls("GET", "jobs", "ok", ERRORS) == 0
    assert calls("POST", "job/submit", "ok") == 1
    assert calls("GET", "job/{id}", "ok") == 1
    assert calls("POST", "job/submit", "http_error") == 1 and calls("POST", "job/submit", "http_error", ERRORS) == 1
    assert calls("GET", "ping", "unreachable") == 1
    assert calls("GET", "ping", "unreachable", ERRORS) == calls("GET", "ping", "unreachable")
    assert after.label_values(CALLS, "endpoint") <= slurm_metrics.SLURM_ENDPOINTS | {"other"}


def test_a_refused_client_token_is_one_unauthorized_call(client, slurm, tmp_path, requests_mock):
    requests_mock.post(f"{API}/job/submit", status_code=401, text="Authentication failure")
    before = scrape(client)
    with pytest.raises(CredentialsRefused):
        slurm.submit(dataclasses.replace(spec(tmp_path), credentials=ClusterCredentials("alice", "t0k3n-alice")))
    after = scrape(client)
    labels = {"method": "POST", "endpoint": "job/submit", "outcome": "unauthorized"}
    assert after.value(CALLS, **labels) - before.value(CALLS, **labels) == 1  # never retried with ours
    assert after.value(ERRORS, **labels) - before.value(ERRORS, **labels) == 1
    text = client.get("/metrics").text
    assert "t0k3n-alice" not in text and "alice" not in text


@pytest.mark.parametrize("path,endpoint", [
    ("/jobs", "jobs"), ("/jobs?update_time=17", "jobs"), ("/job/6", "job/{id}"), ("/job/123456/", "job/{id}"),
    ("/job/submit", "job/submit"), ("/ping", "ping"), ("/nodes", "other"), ("/job/6/steps", "other"),
])
def test_slurm_endpoint_labels_are_templates(path, endpoint):
    assert slurm_metrics.slurm_endpoint(path) == endpoint


# -- token refreshes -------------------------------------------------------------------------
def test_token_refreshes_are_counted_by_outcome(client, tmp_path):
    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    manager = SlurmJWTManager(key, "dm", lifetime_secs=600)
    before = scrape(client)
    manager.token()  # the first token
    manager.token()  # reused: no refresh
    manager.refresh_now()
    key.unlink()
    with pytest.raises(SlurmTokenError):
        manager.refresh_now()
    after = scrape(client)
    assert after.value(REFRESHES, outcome="ok") - before.value(REFRESHES, outcome="ok") == 2
    assert after.value(REFRESHES, outcome="error") - before.value(REFRESHES, outcome="error") == 1
