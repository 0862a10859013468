"""GET /health: component states, 503 when one is unhealthy."""

from __future__ import annotations

import shutil
from pathlib import Path


def test_healthy(client, fake):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "scheduler": "LocalScheduler",
        "details": {"datamonkey": "healthy", "job_scheduler": "healthy", "slurm": "unknown", "database": "healthy"},
    }


def test_real_local_scheduler_reports_healthy(client):
    assert client.get("/api/v1/health").json()["details"]["job_scheduler"] == "healthy"


def test_unhealthy_scheduler_is_503(client, fake, monkeypatch):
    monkeypatch.setattr(fake, "health", lambda: "unhealthy")
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["details"]["job_scheduler"] == "unhealthy"


def test_unknown_scheduler_state_is_not_unhealthy(client, fake, monkeypatch):
    monkeypatch.setattr(fake, "health", lambda: "unknown")
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["details"]["job_scheduler"] == "unknown"


def test_missing_storage_is_503(client, fake, settings_overrides):
    shutil.rmtree(Path(settings_overrides["JOB_WORK_LOCATION"]))
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["details"]["database"] == "unhealthy"
