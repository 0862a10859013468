"""A store that cannot be written (full, over quota, read-only, not permitted) is a 503 naming the
store, with Retry-After, never a 500; the failed write leaves no partial file and the records
written before stay intact. The OSError is simulated here; tests/crash/test_storage_full.py fills
a real tmpfs."""

from __future__ import annotations

import errno
import json
import os

import pytest

from service.errors import ServiceUnavailable, StorageUnavailable
from service.trackers import fs
from service.trackers.fs import atomic_write_bytes, atomic_write_json, locked, storage_error, store_name, touch
from tests.conftest import ADH_NEXUS, upload
from tests.unit.helpers import files_under, start, start_ok

PROBLEMS = [
    (errno.ENOSPC, "is full (No space left on device)"),
    (errno.EDQUOT, "is over its quota (Disk quota exceeded)"),
    (errno.EROFS, "is read-only (Read-only file system)"),
    (errno.EACCES, "is not writable (Permission denied)"),
    (errno.EPERM, "is not writable (Operation not permitted)"),
]


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def fail_writes(monkeypatch, code: int, after_bytes: int = 0) -> None:
    """Every file opened with os.fdopen (atomic writes, the upload stream) refuses to grow past
    `after_bytes` with OSError(`code`), as a full disk does mid-write."""
    real_fdopen = os.fdopen

    class Refusing:
        def __init__(self, handle):
            self._handle, self._written = handle, 0

        def write(self, data):
            if self._written + len(data) > after_bytes:
                raise oserror(code)
            self._written += len(data)
            return self._handle.write(data)

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Refusing(real_fdopen(fd, *a, **k)))


# -- the error itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("code, phrase", PROBLEMS)
def test_storage_unavailable_is_a_503_naming_the_store_and_the_cause(code, phrase):
    error = StorageUnavailable("job tracker", oserror(code))
    assert isinstance(error, ServiceUnavailable) and error.status == 503
    assert error.message == f"job tracker storage {phrase}"
    assert error.body()["code"] == "storage_unavailable"
    assert error.headers() == {"Retry-After": "60"}
    assert error.store == "job tracker" and error.errno == code


def test_an_unexpected_errno_is_still_named():
    error = StorageUnavailable("dataset store", oserror(errno.EIO))
    assert error.message == "dataset store storage cannot be written (Input/output error)"


# -- fs primitives -------------------------------------------------------------------------------
@pytest.mark.parametrize("code, phrase", PROBLEMS)
def test_failed_atomic_write_keeps_the_old_record_and_no_temp_file(tmp_path, monkeypatch, code, phrase):
    record = tmp_path / "records" / "ab" / "abc.json"
    atomic_write_json(record, {"state": "queued"})
    before = record.read_bytes()
    fail_writes(monkeypatch, code)
    with pytest.raises(StorageUnavailable) as caught:
        atomic_write_json(record, {"state": "running"}, store="job tracker")
    assert caught.value.message == f"job tracker storage {phrase}"
    assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == code
    monkeypatch.undo()
    assert record.read_bytes() == before
    assert sorted(p.name for p in record.parent.iterdir()) == ["abc.json"], "temporary file left behind"


def test_a_failing_fsync_is_mapped_too(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(oserror(errno.ENOSPC)))
    with pytest.raises(StorageUnavailable, match="is full"):
        atomic_write_bytes(tmp_path / "x", b"data")
    assert list(tmp_path.iterdir()) == []


def test_touch_and_mkdir_failures_are_mapped(tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise oserror(errno.EROFS)

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)
    with pytest.raises(StorageUnavailable, match="is read-only"):
        touch(tmp_path / "owners" / "anonymous" / "x")


def test_a_lock_file_that_cannot_be_opened_is_mapped(tmp_path, monkeypatch):
    lock_file = tmp_path / "locks" / "job-ab.lock"
    lock_file.parent.mkdir()
    with locked(lock_file):  # the ordinary case: held, then released
        assert lock_file.exists()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path) == str(lock_file):
            raise oserror(errno.EROFS)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StorageUnavailable, match="is read-only"), locked(lock_file, store="job tracker"):
        pytest.fail("acquired a lock that could not be opened")


def test_other_os_errors_are_not_storage_conditions(tmp_path, monkeypatch):
    """An I/O error or a bug (EBADF, EISDIR…) is not "retry later": it keeps its own exception."""
    for code in (errno.EIO, errno.EBADF, errno.EISDIR):
        assert storage_error(oserror(code), tmp_path) is None
    assert storage_error(ValueError("x"), tmp_path) is None
    fail_writes(monkeypatch, errno.EIO)
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(tmp_path / "x", b"data")
    assert not isinstance(caught.value, StorageUnavailable) and caught.value.errno == errno.EIO


def test_store_name_recognises_each_store_from_its_layout(services):
    settings = services.settings
    tracker, datasets = settings.JOB_TRACKER_LOCATION, settings.DATASET_LOCATION
    assert store_name(tracker / "records" / "ab" / "ab12.json") == "job tracker"
    assert store_name(tracker / "keys" / "cd" / ("c" * 64)) == "job tracker"
    assert store_name(tracker / "owners" / "anonymous" / ("a" * 32)) == "job tracker"
    assert store_name(datasets / "blobs" / "ab" / f"{'a' * 64}.refs" / ("b" * 32)) == "dataset store"
    assert store_name(datasets / "records" / "ab" / "ab12.json") == "dataset store"
    assert store_name(settings.JOB_WORK_LOCATION / ("f" * 32) / "runner.pid") == "job work"
    assert store_name(settings.JOB_WORK_LOCATION / ("f" * 32) / "input" / "alignment.txt") == "job work"
    assert store_name(settings.SESSION_LOCATION / "ab" / ("a" * 64)) == "session store"
    assert store_name(settings.SESSION_LOCATION.parent / "elsewhere.txt") == "data"


# -- through the API -----------------------------------------------------------------------------
@pytest.mark.parametrize("code, phrase", PROBLEMS[:3])
def test_job_start_on_an_unwritable_tracker_is_a_503_and_nothing_is_submitted(
        client, fake, services, adh_id, monkeypatch, code, phrase):
    first = start_ok(client, "fel", {"alignment": adh_id})
    tracker_root = services.settings.JOB_TRACKER_LOCATION
    before = {p: p.read_bytes() for p in files_under(tracker_root) if "locks" not in p.parts}

    fail_writes(monkeypatch, code)
    response = start(client, "slac", {"alignment": adh_id})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "60"
    body = response.json()
    assert body["error"] == f"job tracker storage {phrase}"
    assert body["code"] == "storage_unavailable" and body["request_id"]
    assert list(fake.submitted) == [first["job_id"]]
    # Reads that need no write keep working while the store is full.
    assert client.get(f"/api/v1/jobs/{first['job_id']}").status_code == 200
    assert client.get("/api/v1/datasets").status_code == 200

    monkeypatch.undo()
    after = {p: p.read_bytes() for p in files_under(tracker_root) if "locks" not in p.parts}
    stray = {p for p in after if p not in before and p.parent.name != "active"}
    assert not stray, f"the refused start left files: {stray}"
    assert all(after[p] == content for p, content in before.items()), "a record written before changed"
    # Space is back: the same request now works.
    again = start_ok(client, "slac", {"alignment": adh_id})
    assert again["job_id"] in fake.submitted
    listed = {j["job_id"] for j in client.get("/api/v1/jobs").json()["jobs"]}
    assert listed == {first["job_id"], again["job_id"]}


def test_upload_to_a_full_dataset_store_is_a_503_and_leaves_no_partial_file(client, services, monkeypatch):
    content = ADH_NEXUS.read_bytes()
    datasets_root = services.settings.DATASET_LOCATION
    fail_writes(monkeypatch, errno.ENOSPC, after_bytes=len(content) // 2)
    response = upload(client, content, name="adh")
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "dataset store storage is full (No space left on device)"
    assert response.headers["Retry-After"] == "60"
    assert files_under(datasets_root) == [], "a partial upload stayed behind"
    monkeypatch.undo()
    assert client.get("/api/v1/datasets").json()["datasets"] == []
    response = upload(client, content, name="adh")
    assert response.status_code == 201, response.text
    assert response.json()["datasets"][0]["size"] == len(content)


def test_dataset_record_write_refused_after_the_blob_is_a_503(client, services, monkeypatch):
    """The blob is adopted, then the record write fails: 503, nothing listed, a retry works."""
    content = ADH_NEXUS.read_bytes()
    real = fs.atomic_write_bytes

    def refuse_records(path, data, store=None):
        if "records" in path.parts:
            raise StorageUnavailable("dataset store", oserror(errno.ENOSPC))
        return real(path, data, store)

    monkeypatch.setattr(fs, "atomic_write_bytes", refuse_records)
    response = upload(client, content, name="adh")
    assert response.status_code == 503, response.text
    assert "dataset store storage is full" in response.json()["error"]
    monkeypatch.undo()
    assert client.get("/api/v1/datasets").json()["datasets"] == []
    response = upload(client, content, name="adh")
    assert response.status_code == 201, response.text
    ds = response.json()["datasets"][0]
    assert client.get(f"/api/v1/datasets/{ds['id']}/content").content == content
    assert json.loads(client.get("/api/v1/datasets").text)["datasets"][0]["id"] == ds["id"]


def test_a_full_job_work_disk_while_copying_inputs_is_a_503_and_no_job_is_left(
        client, fake, services, adh_id, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(services.jobs.datasets, "copy_content", full)
    response = start(client, "fel", {"alignment": adh_id})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "job work storage is full (No space left on device)"
    assert fake.submitted == {} and client.get("/api/v1/jobs").json()["jobs"] == []
    monkeypatch.undo()
    assert start_ok(client, "fel", {"alignment": adh_id})["job_id"] in fake.submitted
