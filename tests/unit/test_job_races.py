"""State races: a status refresh decided on a snapshot must not undo what happened meanwhile.

Each race is staged deterministically: the FakeScheduler's call is wrapped so that the competing
request (cancel, delete) runs while the refresh or submission is inside the scheduler.
"""

from __future__ import annotations

from service.identity import ANONYMOUS, Identity
from service.jobdir import EXIT_STATUS
from service.schedulers.base import ACTIVE, SchedulerUnavailable
from service.trackers.jobs import ERROR, QUEUED
from tests.unit.fakes import GOOD_RESULT
from tests.unit.helpers import start_ok

ANON = Identity(owner=ANONYMOUS)


def during_next_status_call(fake, monkeypatch, competitor):
    """Run `competitor` once, after the scheduler has answered the next statuses() call (so
    that answer is stale) and before the job service applies it."""
    answer = fake.statuses
    pending = [competitor]

    def racing(jobs):
        states = answer(jobs)
        if pending:
            pending.pop()()
        return states

    monkeypatch.setattr(fake, "statuses", racing)


def test_a_refresh_racing_a_cancel_leaves_the_job_cancelled(client, fake, services, adh_id, monkeypatch):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.run(job_id)
    assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "running"

    during_next_status_call(fake, monkeypatch, lambda: services.jobs.cancel(ANON, job_id))
    fake.phases[job_id] = ACTIVE  # the stale answer: still running
    body = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (body["status"], body["state"]) == ("error", "cancelled"), body
    assert services.jobs.tracker.get(job_id).cancelled


def test_a_final_state_is_written_once(client, fake, services, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    stale = services.jobs.tracker.get(job_id)
    fake.finish(job_id, result=GOOD_RESULT)
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "completed"
    finished = services.jobs.tracker.get(job_id).finished

    fake.lose(job_id, "a stale answer")  # a slow reader still holding the queued snapshot
    (fake.workdir(job_id) / EXIT_STATUS).unlink()
    assert services.jobs.refresh(stale).state == "completed"
    stored = services.jobs.tracker.get(job_id)
    assert (stored.state, stored.finished) == ("completed", finished)


def test_a_refresh_racing_a_delete_is_404_not_500(client, fake, services, adh_id, monkeypatch):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.run(job_id)
    during_next_status_call(fake, monkeypatch, lambda: services.jobs.delete(ANON, job_id))
    response = client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 404, response.text
    assert "Job not found" in response.text


def test_a_listing_racing_a_delete_leaves_the_deleted_job_out(client, fake, services, adh_id, monkeypatch):
    kept = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    gone = start_ok(client, "slac", {"alignment": adh_id})["job_id"]
    fake.run(kept)
    fake.run(gone)
    during_next_status_call(fake, monkeypatch, lambda: services.jobs.delete(ANON, gone))
    response = client.get("/api/v1/jobs")
    assert response.status_code == 200, response.text
    assert [job["job_id"] for job in response.json()["jobs"]] == [kept]


def test_annotating_a_job_deleted_meanwhile_is_404(client, fake, services, adh_id, monkeypatch):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.run(job_id)
    during_next_status_call(fake, monkeypatch, lambda: services.jobs.tracker.delete(job_id))
    response = client.patch(f"/api/v1/jobs/{job_id}", json={"notes": "x"})
    assert response.status_code == 404, response.text


def test_a_cancel_while_the_job_is_being_submitted_stops_it_once_it_has_an_id(client, fake, services, adh_id,
                                                                             monkeypatch):
    submit = fake.submit
    cancelled_during_submit = []

    def slow_submit(spec):
        # the job is recorded, without a native id yet: a client cancels it now
        cancelled_during_submit.append(services.jobs.cancel(ANON, spec.job_id))
        return submit(spec)

    monkeypatch.setattr(fake, "submit", slow_submit)
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id})
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    assert cancelled_during_submit[0].cancelled and not cancelled_during_submit[0].native_id
    assert fake.cancelled == [job_id]  # stopped at the backend as soon as it had an id
    body = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (body["status"], body["state"]) == ("error", "cancelled")


def test_a_delete_while_the_job_is_being_submitted_stops_it(client, fake, services, adh_id, monkeypatch):
    submit = fake.submit

    def slow_submit(spec):
        services.jobs.tracker.delete(spec.job_id)  # DELETE /jobs/{id} with no native id yet
        return submit(spec)

    monkeypatch.setattr(fake, "submit", slow_submit)
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id})
    assert response.status_code == 404, response.text
    assert fake.cancelled == list(fake.submitted)


def test_an_identical_start_refreshes_before_deciding_to_reuse(client, fake, adh_id):
    first = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    fake.finish(first, exit_code=1, stdout="Error: something HyPhy did not like")
    # nobody read the job since it failed: its stored state is still `queued`
    again = start_ok(client, "fel", {"alignment": adh_id})
    assert again["job_id"] != first, "a failed job is never reused, even if nobody had seen it fail"
    assert client.get(f"/api/v1/jobs/{first}").json()["status"] == "error"


def test_a_restart_while_the_scheduler_is_down_keeps_interrupted_submissions_open(client, fake, services, adh_id):
    job_id = start_ok(client, "fel", {"alignment": adh_id})["job_id"]
    services.jobs.tracker.update(job_id, native_id="")  # as if the process died inside submit()
    fake.status_error = SchedulerUnavailable("slurmrestd is unreachable")
    found_calls = []

    def find_submitted(jobs):
        found_calls.append([j.job_id for j in jobs])
        if fake.status_error:
            raise fake.status_error
        return {job_id: "fake-adopted"}

    fake.find_submitted = find_submitted
    services.jobs.recover()  # the restart
    assert services.jobs.tracker.get(job_id).state == QUEUED, "undecided while the scheduler cannot tell"

    fake.status_error = None
    services.jobs._settle_after = 0  # the retry interval has passed
    client.get(f"/api/v1/jobs/{job_id}")
    adopted = services.jobs.tracker.get(job_id)
    assert adopted.native_id == "fake-adopted" and adopted.state != ERROR
    assert found_calls == [[job_id], [job_id]]
