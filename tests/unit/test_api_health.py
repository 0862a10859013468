"""GET /health: component states, 503 when one is unhealthy."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from service.schedulers.base import ComponentHealth


def test_healthy(client, fake):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "scheduler": "LocalScheduler",
        "details": {"datamonkey": "healthy", "job_scheduler": "healthy", "slurm": "unknown", "database": "healthy",
                    "dataset_tracker": "healthy", "job_tracker": "healthy", "job_work": "healthy"},
    }


def test_real_local_scheduler_reports_healthy(client):
    assert client.get("/api/v1/health").json()["details"]["job_scheduler"] == "healthy"


def test_an_unhealthy_scheduler_component_is_503_naming_it_and_why(client, fake, monkeypatch):
    monkeypatch.setattr(fake, "health", lambda: {
        "slurmrestd": ComponentHealth("healthy"),
        "slurmctld": ComponentHealth("unhealthy", "slurmrestd got no answer from slurmctld within 5 s")})
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["details"]["job_scheduler"] == body["details"]["slurmctld"] == "unhealthy"
    assert body["details"]["slurmrestd"] == "healthy"
    assert body["reasons"] == {"slurmctld": "slurmrestd got no answer from slurmctld within 5 s"}


def test_unknown_scheduler_state_is_not_unhealthy(client, fake, monkeypatch):
    monkeypatch.setattr(fake, "health", lambda: {"job_listing": ComponentHealth("unknown", "no job listing yet")})
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["details"]["job_scheduler"] == "unknown"
    assert "reasons" not in response.json()


def test_missing_storage_is_503(client, fake, settings_overrides):
    shutil.rmtree(Path(settings_overrides["JOB_WORK_LOCATION"]))
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["details"]["database"] == response.json()["details"]["job_work"] == "unhealthy"
    assert response.json()["reasons"]["job_work"] == "JOB_WORK_LOCATION is missing or not writable"


def test_a_full_store_is_503_naming_it(client, fake, settings_overrides, monkeypatch):
    import collections

    import service.api.health as health

    work = str(Path(settings_overrides["JOB_WORK_LOCATION"]))
    real = health.shutil.disk_usage
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(health.shutil, "disk_usage",
                        lambda path: usage(100, 100, 0) if str(path) == work else real(path))
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["details"]["job_work"] == "unhealthy"
    assert response.json()["reasons"]["job_work"] == "JOB_WORK_LOCATION is full"


def test_reasons_name_the_part_and_the_details_are_logged_once_per_change(client, fake, settings_overrides, caplog,
                                                                          monkeypatch):
    """/health is public: no storage path, slurmrestd URL or body in it. Those go to the log, once
    when a component's state changes (load balancers poll /health every few seconds)."""
    caplog.set_level(logging.INFO)
    work = Path(settings_overrides["JOB_WORK_LOCATION"])
    shutil.rmtree(work)
    url = "http://slurm.internal:6820/slurm/v0.0.38"
    monkeypatch.setattr(fake, "health", lambda: {"slurmrestd": ComponentHealth(
        "unhealthy", "slurmrestd is unreachable", f"slurmrestd at {url} is unreachable")})
    for _ in range(3):
        response = client.get("/api/v1/health")
        assert response.json()["reasons"] == {"job_work": "JOB_WORK_LOCATION is missing or not writable",
                                              "slurmrestd": "slurmrestd is unreachable"}
        assert str(work) not in response.text and "slurm.internal" not in response.text
    work.mkdir()
    assert client.get("/api/v1/health").json()["details"]["job_work"] == "healthy"
    changes = [(r.component, r.status, r.detail) for r in caplog.records if r.message == "health changed"]
    assert changes == [
        ("slurmrestd", "unhealthy", f"slurmrestd at {url} is unreachable"),
        ("job_work", "unhealthy", f"JOB_WORK_LOCATION={work}"),
        ("job_work", "healthy", ""),
    ]
