"""SlurmRestScheduler end to end against the real local cluster (`scripts/local-slurm.sh start`).

Skipped unless slurmrestd answers on 127.0.0.1:6820 with a token signed by the cluster's key file,
so CI without the cluster skips it (the skip condition and the shared fixtures are in
slurm_helpers.py, used by every test_slurm_live*.py module).
"""

from __future__ import annotations

import os
import pwd
import shlex
from pathlib import Path

import pytest

from tests.conftest import ADH_NEXUS, upload_id
from service import hyphy
from tests.integration import helpers
from tests.integration.helpers import assert_same_as_direct_fel, describe, fixture_id, services, start, wait_all
from tests.integration.slurm_helpers import SLURM_LIVE, USER, build_slurm_app, node_root

pytestmark = SLURM_LIVE


@pytest.fixture(scope="module")
def app(tmp_path_factory, work_root):
    app = build_slurm_app(tmp_path_factory.mktemp("slurm-live"), work_root)
    try:
        yield app
    finally:
        services(app).scheduler.shutdown()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def test_fel_on_slurm_equals_a_direct_hyphy_run(app, client, tmp_path, monkeypatch):
    adh = upload_id(client, ADH_NEXUS, name="adh.nex")
    job = start(client, "fel", {"alignment": adh})
    final = wait_all(client, {"fel": ("fel", job["job_id"])}, deadline_s=900)["fel"]
    assert final["status"] == "completed", describe(final)
    record = services(app).jobs.tracker.get(job["job_id"])
    assert record.scheduler == "SlurmRestScheduler"
    slurm_id, _, submit_time = record.native_id.partition("@")
    assert slurm_id.isdigit() and submit_time.isdigit(), record.native_id  # ran on Slurm, identity kept
    workdir = Path(record.workdir)
    assert (workdir / "exit_status").read_text() == "0\n"
    assert (workdir / "slurm.out").exists()  # Slurm's own output file, in the job directory
    if os.geteuid() == 0:  # the service handed the job directory to the user jobs run as
        assert workdir.stat().st_uid == pwd.getpwnam(USER).pw_uid

    root = node_root()
    if root is not None:  # the node runs another suite's HyPhy (in its chroot): compare with that one
        binary = hyphy.pick_binary()
        wrapper = tmp_path / "hyphy-in-node-root"
        wrapper.write_text(f"#!/bin/sh\nexec chroot {shlex.quote(str(root))} /bin/sh -c "
                           f"'cd \"$0\" && exec \"$@\"' \"$PWD\" {shlex.quote(binary)} \"$@\"\n")
        wrapper.chmod(0o755)
        monkeypatch.setattr(helpers.hyphy, "pick_binary", lambda *args, **kwargs: str(wrapper))
    assert_same_as_direct_fel(final["result"], ADH_NEXUS, tmp_path)


def test_failing_job_is_an_error_with_hyphys_reason(client):
    body = {"alignment": fixture_id(client, "p51.protein.fasta"), "tree": fixture_id(client, "p51.unrooted.nwk")}
    job = start(client, "fade", body)  # passes the start checks; HyPhy refuses the unrooted tree
    final = wait_all(client, {"fade": ("fade", job["job_id"])}, deadline_s=600)["fade"]
    assert final["status"] == "error", describe(final)
    assert "MUST be rooted" in final["error_message"] and "exited with code 1" in final["error_message"], describe(final)
