"""kill -9 of the real service in the middle of a dataset upload, at three points:

1. while the multipart body is still arriving (a raw socket sends half of it, slowly);
2. while the upload is being copied into the dataset store (its `incoming/` file is growing);
3. as the finished upload is adopted (its blob appears; the record may or may not follow).

After each kill the service restarts on the same stores. Then: no partial dataset is visible
(every listed dataset serves exactly the bytes uploaded, the one stored before is intact), every
stored record and blob is complete (blob name = SHA-256 of its bytes), leftovers are only
temporary files that nothing lists, and the same upload then succeeds.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.crash.server import ServiceProcess, local_settings, tiny_alignments
from tests.integration.helpers import INTEGRATION

pytestmark = INTEGRATION
BOUNDARY = "crashtestboundary7d91"
TARGET_BYTES = 24 * 1024 * 1024


def big_alignment() -> bytes:
    """A ~24 MB FASTA codon alignment: 3,000 sequences of 7,620 sites (adh's, repeated), inside
    the default DATASET_MAX_SEQUENCES / DATASET_MAX_SITES."""
    lines = (FIXTURES / "adh.fasta").read_text().split()
    sequences = [lines[i + 1] * 10 for i in range(0, len(lines), 2)]
    count = TARGET_BYTES // (len(sequences[0]) + 8) + 1
    return "".join(f">s{i}\n{sequences[i % len(sequences)]}\n" for i in range(count)).encode()


def multipart(content: bytes, name: str) -> tuple[bytes, bytes, bytes]:
    """(head, file bytes, tail) of the multipart body upstream clients send."""
    meta = json.dumps({"name": name, "type": "alignment", "description": "kill -9 mid-upload"})
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{meta}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head, content, f"\r\n--{BOUNDARY}--\r\n".encode()


def open_upload(base: str, body_length: int) -> socket.socket:
    host, port = base.split("//")[1].split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST /api/v1/datasets HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                  f"Content-Length: {body_length}\r\nConnection: close\r\n\r\n").encode())
    return sock


def incoming_growing(datasets_root: Path) -> bool:
    return any(p.stat().st_size > 0 for p in (datasets_root / "incoming").glob("upload-*") if p.exists())


def blob_present(datasets_root: Path, sha: str) -> bool:
    return (datasets_root / "blobs" / sha[:2] / sha).exists()


def kill_at(server: ServiceProcess, content: bytes, point: str, datasets_root: Path, sha: str) -> str:
    """Stream an upload and SIGKILL the server at `point`; returns where the kill really landed."""
    head, data, tail = multipart(content, "big.fasta")
    sock = open_upload(server.base, len(head) + len(data) + len(tail))
    try:
        sock.sendall(head)
        if point == "mid-body":
            half, step = len(data) // 2, 256 * 1024
            for offset in range(0, half, step):
                sock.sendall(data[offset: min(offset + step, half)])
                time.sleep(0.005)
            server.kill9()
            return "mid-body"
        sock.sendall(data + tail)
        watch = incoming_growing if point == "copying" else (lambda root: blob_present(root, sha))
        deadline = time.monotonic() + 60
        while not watch(datasets_root) and time.monotonic() < deadline:
            time.sleep(0.0005)
        server.kill9()
        return point if watch(datasets_root) or point == "copying" else f"{point} (missed)"
    finally:
        sock.close()


def store_problems(datasets_root: Path) -> list[str]:
    """Every record complete and pointing at a complete blob; every blob named by its hash."""
    problems = []
    for blob in (datasets_root / "blobs").glob("*/*"):
        if (blob.is_file() and not blob.name.startswith(".")
                and hashlib.sha256(blob.read_bytes()).hexdigest() != blob.name):
            problems.append(f"blob {blob.name} does not hold the bytes it is named for")
    for path in (datasets_root / "records").glob("*/*.json"):
        record = json.loads(path.read_text())  # a torn record would not parse
        blob = datasets_root / "blobs" / record["content_sha256"][:2] / record["content_sha256"]
        if not blob.exists() or blob.stat().st_size != record["size"]:
            problems.append(f"record {record['id']} has no complete blob")
    return problems


def temp_leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and (p.name.endswith(".tmp") or p.parent.name == "incoming"))


@pytest.fixture
def server(tmp_path):
    settings = local_settings(tmp_path, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    process = ServiceProcess(tmp_path, settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_kill9_mid_upload_leaves_no_partial_dataset(server, tmp_path):
    datasets_root = tmp_path / "datasets"
    before = tiny_alignments(1)[0]
    response = server.upload(before, "before.fasta")
    assert response.status_code == 201, response.text
    kept = response.json()["datasets"][0]

    content = big_alignment()
    sha = hashlib.sha256(content).hexdigest()
    landed = []
    for point in ("mid-body", "copying", "adopting"):
        landed.append(kill_at(server, content, point, datasets_root, sha))
        server.start()
        listed = server.get("/datasets").json()["datasets"]
        for dataset in listed:  # a dataset the kill let through must be whole
            served = server.get(f"/datasets/{dataset['id']}/content").content
            assert served == (before if dataset["id"] == kept["id"] else content), f"after a kill at {point}"
        assert kept["id"] in {d["id"] for d in listed}
        assert {d["id"] for d in listed} <= {kept["id"], *({_id(server, content)} if blob_present(datasets_root, sha) else set())}
        assert store_problems(datasets_root) == [], f"after a kill at {point}"
        if point == "mid-body":
            assert [d["id"] for d in listed] == [kept["id"]], "a half-sent upload became a dataset"
            assert not blob_present(datasets_root, sha)
    leftovers = temp_leftovers(tmp_path / "datasets")
    print(f"\nkill -9 during uploads: {len(landed)} faults ({', '.join(landed)}), temporary files left: {leftovers}")
    assert list((tmp_path / "tmp").iterdir()) == [], "the multipart spool left files behind"

    # The same upload now succeeds, whole.
    response = server.upload(content, "big.fasta")
    assert response.status_code == 201, response.text
    dataset = response.json()["datasets"][0]
    assert dataset["size"] == len(content)
    assert hashlib.sha256(server.get(f"/datasets/{dataset['id']}/content").content).hexdigest() == sha
    assert {d["id"] for d in server.get("/datasets").json()["datasets"]} == {kept["id"], dataset["id"]}
    assert store_problems(datasets_root) == []
    # Leftovers are only temporary files nothing lists (incoming uploads, atomic-write temps).
    assert all(name.endswith(".tmp") or "/incoming/" in f"/{name}" for name in leftovers)


def _id(server: ServiceProcess, content: bytes) -> str:
    """The id this owner's upload of `content` gets (owner + content), without uploading it."""
    from service.identity import ANONYMOUS
    from service.trackers.datasets import dataset_id

    return dataset_id(ANONYMOUS, hashlib.sha256(content).hexdigest())
