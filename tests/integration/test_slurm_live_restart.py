"""Live Slurm: restart reconciliation. A job running when the service stops is picked up by a
NEW app on the same data directories and reaches `completed` there, without a second submission;
a job that finished while the service was down is settled by the new app as well.
"""

from __future__ import annotations

from tests.integration.helpers import describe, services, start
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    build_slurm_app,
    fel_body,
    shutdown,
    slurm_ids,
    slurm_jobs_named,
    wait_slurm_state,
    wait_status,
)

pytestmark = SLURM_LIVE


def test_a_restarted_service_completes_jobs_started_before_it(tmp_path, work_root):
    first = build_slurm_app(tmp_path, work_root)
    try:
        client = first.test_client()
        quick = start(client, "fel", fel_body(client, resample=0))  # ~10 s: ends while we are down
        slow = start(client, "fel", fel_body(client, resample=4))  # ~30 s: still running at restart
        wait_status(client, slow["job_id"], ("running",), deadline_s=120)
        records = {j: services(first).jobs.tracker.get(j) for j in (quick["job_id"], slow["job_id"])}
    finally:
        shutdown(first)  # the service stops (its poller and token refresher with it)

    quick_slurm_id, _ = slurm_ids(records[quick["job_id"]].native_id)
    wait_slurm_state(quick_slurm_id, ("COMPLETED",), deadline_s=120)
    assert services(first).jobs.tracker.get(quick["job_id"]).state in ("queued", "running")  # not seen ending

    second = build_slurm_app(tmp_path, work_root)
    try:
        client = second.test_client()
        for job in (quick, slow):
            final = wait_status(client, job["job_id"], ("completed", "error"), deadline_s=600)
            assert final["status"] == "completed", describe(final)
            record = services(second).jobs.tracker.get(job["job_id"])
            assert record.native_id == records[job["job_id"]].native_id
            assert len(slurm_jobs_named(f"datamonkey-{job['job_id']}")) == 1  # never submitted twice
    finally:
        shutdown(second)
