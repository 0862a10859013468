"""Helpers shared by the endpoint tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

#: ADH's six taxa with two branches labelled {Test} (RELAX / Contrast-FEL need labels).
LABELLED_TREE = "(MEL{Test},MA,(ERE{Test},((SIL,DIF),AFF)));\n"
PLAIN_TREE = "(MEL,MA,(ERE,((SIL,DIF),AFF)));\n"


def start(client, method: str, body: dict, token: str | None = None):
    headers = {"user_token": token} if token else {}
    return client.post(f"/api/v1/methods/{method}-start", json=body, headers=headers)


def start_ok(client, method: str, body: dict, token: str | None = None) -> dict:
    response = start(client, method, body, token)
    assert response.status_code == 200, response.text
    return response.json()


def files_under(root: Path) -> list[Path]:
    """Every regular file below `root` (empty when it does not exist)."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


def error_fields(response) -> list[str]:
    """The `field` names of a 422 InvalidDataError body."""
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]
