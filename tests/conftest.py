"""Shared fixtures: a fresh app per test (Flask-style factory), its client and upload helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.app import create_app
from service.config import Settings

HYPHY_DATA = Path("/usr/share/hyphy")
ADH_NEXUS = HYPHY_DATA / "TemplateBatchFiles/Miscellaneous/phylohandbook/datasets/Drosophilia_adh.nex"
P51_PROTEIN = HYPHY_DATA / "data/p51.aa"
FIXTURES = Path(__file__).parent / "fixtures"


def store_settings(root: Path) -> dict[str, str]:
    """Configuration pointing every store under `root` (a restarted app reuses the same root)."""
    return {
        "DATASET_LOCATION": str(root / "datasets"),
        "JOB_TRACKER_LOCATION": str(root / "job-tracker"),
        "JOB_WORK_LOCATION": str(root / "jobs"),
        "SESSION_LOCATION": str(root / "sessions"),
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def settings_overrides(tmp_path):
    """Configuration pointing every store at this test's own temporary directory."""
    return store_settings(tmp_path)


@pytest.fixture
def make_app(settings_overrides):
    """Build an app with extra settings; responses are validated against openapi.yaml."""

    def build(scheduler=None, **extra):
        return create_app(Settings.from_environ({**settings_overrides, **extra}), scheduler=scheduler,
                          validate_responses=True)

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def upload(client, content: bytes | str | Path, *, token: str | None = None, name: str = "data",
           meta: dict | None = None):
    """POST /datasets the way upstream clients do (multipart `meta` JSON text + `file`)."""
    if isinstance(content, Path):
        content = content.read_bytes()
    if isinstance(content, str):
        content = content.encode()
    headers = {"user_token": token} if token else {}
    meta = meta if meta is not None else {"name": name, "type": "alignment", "description": "test upload"}
    return client.post("/api/v1/datasets", files={"file": (name, content)}, data={"meta": json.dumps(meta)},
                       headers=headers)


def upload_id(client, content, **kwargs) -> str:
    response = upload(client, content, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()["datasets"][0]["id"]
