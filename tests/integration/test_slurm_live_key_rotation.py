"""Live Slurm: JWT key rotation without restarting the service.

A new 32-byte key is written to the cluster's key file (owner slurm, mode 600) and slurmctld is
restarted (Slurm only accepts a new key after that). The same app, never restarted, then
submits and completes a job: its token, signed with the old key, is refused (a fast 500), which
makes the JWT manager re-read the key file and retry. The new key stays; the cluster is always
brought back up.
"""

from __future__ import annotations

import os
import pwd

import requests

from tests.integration.helpers import describe, services, start
from tests.integration.slurm_helpers import (
    API,
    KEY,
    REST_URL,
    SLURM_LIVE,
    USER,
    build_slurm_app,
    fel_body,
    restart_slurmctld,
    shutdown,
    slurm_ids,
    slurm_jobs_named,
    start_cluster,
    token,
    token_refused,
    wait_status,
)

pytestmark = SLURM_LIVE


def write_key(data: bytes) -> None:
    slurm = pwd.getpwnam("slurm")
    tmp = KEY.with_name(KEY.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chown(tmp, slurm.pw_uid, slurm.pw_gid)
    os.chmod(tmp, 0o600)
    os.replace(tmp, KEY)


def test_the_service_follows_a_rotated_key_without_restarting(tmp_path, work_root):
    app = build_slurm_app(tmp_path, work_root)
    try:
        client = app.test_client()
        body = fel_body(client, resample=0)
        old_key = KEY.read_bytes()
        old_token = services(app).scheduler.jwt.token()
        try:
            write_key(os.urandom(32))
            restart_slurmctld()
        finally:
            start_cluster()  # idempotent: makes sure every daemon runs whatever happened above
        assert KEY.read_bytes() != old_key
        assert oct(KEY.stat().st_mode & 0o777) == "0o600" and KEY.stat().st_uid == pwd.getpwnam("slurm").pw_uid
        refused = requests.get(f"{REST_URL}{API}/ping", timeout=30,
                               headers={"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": old_token})
        assert token_refused(refused), refused.text  # the old key's tokens are dead
        accepted = requests.get(f"{REST_URL}{API}/ping", timeout=30,
                                headers={"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token()})
        assert accepted.status_code == 200 and not token_refused(accepted), accepted.text

        job = start(client, "fel", body)  # same app, no restart
        slurm_ids(services(app).jobs.tracker.get(job["job_id"]).native_id)
        assert len(slurm_jobs_named(f"datamonkey-{job['job_id']}")) == 1
        final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=600)
        assert final["status"] == "completed", describe(final)
        assert services(app).scheduler.jwt.token() != old_token
    finally:
        shutdown(app)
