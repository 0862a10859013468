"""Every file the Dockerfiles COPY is let through .dockerignore (which excludes everything else):
a missing exception only shows when an image is built, minutes into `make start`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))


def copied_sources() -> list[tuple[str, str]]:
    """(Dockerfile, source) for every COPY/ADD from the build context (not --from another stage)."""
    found = []
    for dockerfile in DOCKERFILES:
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if words[:1] in (["COPY"], ["ADD"]) and not any(w.startswith("--from") for w in words):
                found += [(dockerfile.name, source) for source in words[1:-1] if not source.startswith("--")]
    return found


def allowed(source: str, ignore_lines: list[str]) -> bool:
    """Docker's rule for this file's shape: `*` excludes all, later `!path` lines re-include a file
    or a directory (with everything under it); the last matching line wins."""
    verdict = False
    for line in ignore_lines:
        negated, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        if pattern == "*" or source.rstrip("/") == pattern or source.startswith(pattern + "/"):
            verdict = negated
    return verdict


def test_the_dockerfiles_copy_something():
    assert len(copied_sources()) >= 5


@pytest.mark.parametrize("dockerfile,source", copied_sources())
def test_every_copied_file_is_in_the_build_context(dockerfile, source):
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#") and not re.search(r"\*\*", ln)]
    assert allowed(source, lines), f"{dockerfile} copies {source}, which .dockerignore leaves out"
    assert (REPO / source).exists() or source.startswith("docker/.build/"), f"{source} does not exist"
