"""A full disk, then a read-only one, under the real service (`python -m service`, LocalScheduler,
real HyPhy): every store lives on a small tmpfs mounted for the test (needs root, as `make test`
runs; skipped where mounting is not allowed; tests/unit/test_storage_errors.py simulates the same
errors without a mount).

While the file system is full or read-only, writes answer 503 with Retry-After and a reason that
names the store and the cause; never a 500, never a half-written upload or record; reads keep
working. Once space (or write access) is back the same requests succeed, and every file written
before the fault is byte-for-byte intact.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.crash.server import ServiceProcess, local_settings, tiny_alignments, wait_final
from tests.integration.helpers import INTEGRATION, kill_leftover_runners

pytestmark = INTEGRATION
SIZE = "8m"


def mount_tmpfs(where: Path) -> str:
    """'' when a SIZE tmpfs is mounted at `where`, else why not."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(where)],
                         check=False, capture_output=True, text=True)
    return "" if run.returncode == 0 else f"cannot mount a tmpfs here: {run.stderr.strip()}"


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True, capture_output=True)


def fill(path: Path) -> int:
    """Write `path` until the file system is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                written += handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    small = b"\0" * 512
    with open(path, "ab", buffering=0) as handle:  # the last partial pages too
        try:
            while True:
                written += handle.write(small)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written


def snapshot(root: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every regular file (lock files aside: empty and rewritten by flock)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "locks" not in p.parts}


def assert_intact(root: Path, before: dict[str, str]) -> list[str]:
    """Every file of `before` is unchanged; returns the new files, which may only be empty
    `active/` markers of refused starts (no record: FileJobTracker.active() skips them)."""
    after = snapshot(root)
    changed = sorted(name for name, digest in before.items() if after.get(name) != digest)
    assert changed == [], f"files written before the fault changed or vanished: {changed}"
    new = sorted(set(after) - set(before))
    for name in new:
        parts = Path(name).parts
        assert parts[:2] == ("job-tracker", "active") and after[name] == hashlib.sha256(b"").hexdigest(), new
        assert not (root / "job-tracker" / "records" / parts[2][:2] / f"{parts[2]}.json").exists(), new
    return new


def partial_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and (p.name.endswith(".tmp") or p.parent.name == "incoming"))


def assert_unavailable(response: requests.Response, store: str, cause: str) -> None:
    assert response.status_code == 503, f"{response.status_code} {response.text[:500]}"
    body = response.json()
    assert body["error"] == f"{store} storage {cause}", body
    assert body["code"] == "storage_unavailable" and body["request_id"], body
    assert int(response.headers["Retry-After"]) > 0


@pytest.fixture
def stores(tmp_path):
    mount = tmp_path / "stores"
    why_not = mount_tmpfs(mount)
    if why_not:
        pytest.skip(why_not)
    try:
        yield mount
    finally:
        kill_leftover_runners([mount / "jobs"])
        if subprocess.run(["umount", str(mount)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def start_and_complete(server: ServiceProcess, method: str, dataset: str) -> str:
    response = server.post(f"/methods/{method}-start", json={"alignment": dataset})
    assert response.status_code == 200, response.text
    job = response.json()["job_id"]
    final = wait_final(lambda j: server.get(f"/jobs/{j}").json(), [job], deadline_s=300)[job]
    assert final["status"] == "completed", final
    return job


def start_with_one_finished_job(server: ServiceProcess, alignment: bytes, stores):
    """Start the server, upload `alignment`, run FEL on it; (dataset id, job id, store snapshot)."""
    server.start()
    response = server.upload(alignment, "first.fasta")
    assert response.status_code == 201, response.text
    dataset = response.json()["datasets"][0]["id"]
    fel = start_and_complete(server, "fel", dataset)
    return dataset, fel, snapshot(stores)


def test_full_disk_is_a_503_naming_the_store_and_nothing_is_corrupted(stores, tmp_path):
    server = ServiceProcess(tmp_path, local_settings(stores, LOCAL_MAX_CONCURRENT_JOBS=2))
    first, second = tiny_alignments(2)
    try:
        dataset, fel, before = start_with_one_finished_job(server, first, stores)

        filler = stores / "filler"
        fill(filler)
        assert_unavailable(server.upload(second, "second.fasta"), "dataset store", "is full (No space left on device)")
        assert_unavailable(server.upload(second * 200, "big.fasta"), "dataset store", "is full (No space left on device)")
        assert_unavailable(server.post("/methods/slac-start", json={"alignment": dataset}),
                           "job tracker", "is full (No space left on device)")
        # Reads keep working.
        assert [d["id"] for d in server.get("/datasets").json()["datasets"]] == [dataset]
        assert server.get(f"/jobs/{fel}").json()["status"] == "completed"
        assert [j["job_id"] for j in server.get("/jobs").json()["jobs"]] == [fel]
        result = server.get("/methods/fel-result", params={"job_id": fel})
        assert result.status_code == 200 and result.json()["result"]["MLE"]
        assert partial_files(stores) == [], "a refused write left a partial file"

        filler.unlink()  # space is back
        stray = assert_intact(stores, before)
        response = server.upload(second, "second.fasta")
        assert response.status_code == 201, response.text
        second_id = response.json()["datasets"][0]["id"]
        assert server.get(f"/datasets/{second_id}/content").content == second
        start_and_complete(server, "slac", dataset)
        print(f"\nfull disk: 3 refused writes, each a 503 naming its store; records intact; stray markers {stray}")
    finally:
        server.stop()


def test_read_only_disk_is_a_503_naming_the_store_and_nothing_is_corrupted(stores, tmp_path):
    server = ServiceProcess(tmp_path, local_settings(stores, LOCAL_MAX_CONCURRENT_JOBS=2))
    first, second = tiny_alignments(2)
    try:
        dataset, fel, before = start_with_one_finished_job(server, first, stores)

        remount(stores, "ro")
        try:
            responses = {
                "upload": server.upload(second, "second.fasta"),
                "start": server.post("/methods/slac-start", json={"alignment": dataset}),
                "delete": server.delete(f"/datasets/{dataset}"),
            }
            assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 503), (
                {name: r.text[:300] for name, r in responses.items()})
            for response in responses.values():
                body = response.json()
                assert body["error"] in (f"{store} storage is read-only (Read-only file system)"
                                         for store in ("dataset store", "job tracker")), body
            assert [d["id"] for d in server.get("/datasets").json()["datasets"]] == [dataset]
            assert server.get(f"/jobs/{fel}").json()["status"] == "completed"
        finally:
            remount(stores, "rw")
        assert_intact(stores, before)
        response = server.upload(second, "second.fasta")
        assert response.status_code == 201, response.text
        start_and_complete(server, "slac", dataset)
    finally:
        server.stop()
