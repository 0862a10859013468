"""Live Slurm: job-id reuse after a cluster state reset (runs last: `zz` in the name).

slurmctld is restarted with an empty StateSaveLocation, so it hands out job ids 1, 2, … again
(once before the test's own jobs, so their ids are small whatever the cluster ran before, and
once after them).
Jobs are then submitted straight to slurmrestd until our old jobs' ids are taken; the job at each
old id even carries the *same name* as ours (`datamonkey-<our id>`), so only Slurm's submit time
(kept in our record's native id `<slurm id>@<submit time>`) tells them apart.
- A: finished and seen `completed` through the service before the reset;
- B: finished in Slurm but never read through the service before the reset (its record is still
  non-final), so the service must decide it from its own files, not from the impostor.
Neither may ever take the impostors' status. The original slurmctld state is put back afterwards
(in `finally`); the jobs submitted during the test are cancelled first.

Disruptive: every other job in the cluster is forgotten while the reset lasts (about 40 s in all;
the test's own jobs are cancelled before the original state returns), so it runs last. It takes
well under the ~2 minutes above which it would have been put behind DATAMONKEY_SLURM_DESTRUCTIVE=1.
"""

from __future__ import annotations

import shutil
import time


from tests.integration.helpers import describe, result_by_id, services, start
from tests.integration.slurm_helpers import (
    CTLD_STATE,
    SLURM_LIVE,
    build_slurm_app,
    fel_body,
    shutdown,
    slurm_cancel,
    slurm_ids,
    slurm_job,
    slurm_jobs,
    start_cluster,
    stop_daemon,
    submit_raw,
    wait_slurm_state,
    wait_status,
)

pytestmark = SLURM_LIVE

FILLER = "#!/bin/bash\ntrue\n"
#: Slurm ids to hand out again after the second reset, at most (one tiny filler job per id).
MAX_REUSED_ID = 1000
IMPOSTOR = "#!/bin/bash\nsleep 300\n"


def reset_ctld_state(keep_as=None) -> None:
    """slurmctld restarted on an empty StateSaveLocation (the old one kept as `keep_as`, or dropped)."""
    stop_daemon("slurmctld")
    if keep_as is not None:
        CTLD_STATE.rename(keep_as)
    else:
        shutil.rmtree(CTLD_STATE)
    start_cluster()  # local-slurm.sh creates the empty state directory


def test_reused_slurm_ids_never_leak_into_old_jobs(tmp_path, work_root):
    saved = CTLD_STATE.with_name(f"ctld.saved-{int(time.time())}")
    reset_ctld_state(keep_as=saved)  # ids start at 1 again, so few filler jobs reach ours below
    app = build_slurm_app(tmp_path, work_root)
    client = app.test_client()
    tracker = services(app).jobs.tracker
    submitted: list[int] = []
    try:
        a = start(client, "fel", fel_body(client, resample=0))
        b = start(client, "fel", fel_body(client, resample=1))
        a_final = wait_status(client, a["job_id"], ("completed", "error"), deadline_s=600)
        assert a_final["status"] == "completed", describe(a_final)
        records = {j["job_id"]: tracker.get(j["job_id"]) for j in (a, b)}
        ids = {job_id: slurm_ids(r.native_id) for job_id, r in records.items()}
        wait_slurm_state(ids[b["job_id"]][0], ("COMPLETED",), deadline_s=600)
        assert tracker.get(b["job_id"]).state in ("queued", "running")  # B's end not seen yet

        assert max(slurm_id for slurm_id, _ in ids.values()) <= MAX_REUSED_ID, ids

        # -- reset: slurmctld with an empty state directory again ----------------------------------
        reset_ctld_state()
        by_slurm_id = {slurm_id: job_id for job_id, (slurm_id, _) in ids.items()}
        while not submitted or submitted[-1] < max(by_slurm_id):
            expected = (submitted[-1] + 1) if submitted else 1
            ours = by_slurm_id.get(expected)
            name = f"datamonkey-{ours}" if ours else "reuse-filler"
            got = submit_raw(name, IMPOSTOR if ours else FILLER)
            submitted.append(got)
            assert got == expected, f"after the reset Slurm handed out {got}, expected {expected}"
        for job_id, (slurm_id, submit_time) in ids.items():
            impostor = slurm_job(slurm_id)
            assert impostor.name == f"datamonkey-{job_id}" and impostor.submit_time != submit_time

        # -- the service, polling through several listings that contain the impostors ----------
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for job_id in (a["job_id"], b["job_id"]):
                body = result_by_id(client, "fel", job_id)
                assert body["status"] == "completed", describe(body)
            time.sleep(1)
        assert services(app).scheduler.informer.get(ids[b["job_id"]][0]) is not None  # impostor was listed
        for job_id, record in records.items():
            assert tracker.get(job_id).native_id == record.native_id
        assert result_by_id(client, "fel", b["job_id"])["result"]["MLE"]["content"]
    finally:
        try:
            for slurm_id in submitted:
                slurm_cancel(slurm_id)
            if saved.exists():  # put the cluster's own state back
                stop_daemon("slurmctld")
                shutil.rmtree(CTLD_STATE, ignore_errors=True)
                saved.rename(CTLD_STATE)
        finally:
            start_cluster()
            shutdown(app)
    assert not any(j.name.startswith("reuse-filler") for j in slurm_jobs())
