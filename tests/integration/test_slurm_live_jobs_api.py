"""Live Slurm, through the real server process (uvicorn, real HTTP): the jobs API of issue 7.

One FEL with 100 resampling replicates (~10 min if left alone) shows its per-site progress
(HyPhy's counters on the pseudo-terminal of the Slurm job), its logs plain and followed as
Server-Sent Events while it runs, is cancelled, retried with more resources (checked in Slurm's
own job record), and a retry Slurm cannot place is a 422. A short FEL completes and gets its
HTML report; annotations, paging and /metrics are read on the same server.
"""

from __future__ import annotations

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADH_NEXUS
from tests.crash.server import ServiceProcess
from tests.integration.helpers import wait_for
from tests.integration.slurm_helpers import (
    SLURM_LIVE,
    slurm_cancel,
    slurm_ids,
    slurm_job,
    slurm_job_resources,
    slurm_settings,
)

pytestmark = SLURM_LIVE


@pytest.fixture
def server(tmp_path, work_root):
    service = ServiceProcess(tmp_path, slurm_settings(tmp_path / "stores", work_root, LOG_LEVEL="INFO"))
    service.start()
    yield service
    service.stop()


def upload_adh(server) -> str:
    response = server.upload(ADH_NEXUS.read_bytes(), "adh.nex")
    assert response.status_code == 201, response.text
    return response.json()["datasets"][0]["id"]


def job(server, job_id: str) -> dict:
    response = server.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_job(server, job_id: str, ready, what: str, deadline_s: float = 300) -> dict:
    return wait_for(lambda: (lambda body: body if ready(body) else None)(job(server, job_id)),
                    f"job {job_id} {what}", deadline_s=deadline_s, interval_s=0.5)


def sse_events(response: requests.Response):
    """(event, data) pairs as they arrive; `id:` lines and comments are skipped."""
    name, data = None, []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        elif line == "":
            if name:
                yield name, "\n".join(data)
            name, data = None, []


def stop_in_slurm(native_id: str) -> None:
    slurm_id, _ = slurm_ids(native_id)
    current = slurm_job(slurm_id)
    if current is not None and current.state in ("PENDING", "RUNNING"):
        slurm_cancel(slurm_id)


def test_progress_logs_follow_cancel_and_retry_with_more_resources(server):
    alignment = upload_adh(server)
    body = {"alignment": alignment, "resample": 100}
    started = server.post("/methods/fel-start", json=body).json()
    job_id = started["job_id"]
    native_ids = [job(server, job_id)["native_id"]]
    try:
        # progress: HyPhy's site counter, read from the job's pseudo-terminal stderr
        running = wait_job(server, job_id, lambda b: "fraction" in b.get("progress_detail", {}),
                           "to report a site fraction", deadline_s=240)
        detail = running["progress_detail"]
        assert detail["step"].startswith("Working on site pattern") and 0 < detail["fraction"] <= 1
        assert detail["total"] == 170 and detail["phase"] and running["progress"].startswith(detail["phase"])
        polled = server.post("/methods/fel-result", json=body).json()
        assert polled["status"] == "running" and polled["progress_detail"]["total"] == 170

        # logs, plain: colour codes gone, tail honoured; stderr shows the live counter line
        log = server.get(f"/jobs/{job_id}/logs", params={"tail": 3})
        assert log.status_code == 200 and log.headers["X-Job-Status"] == "running"
        assert 0 < len(log.text.splitlines()) <= 3 and "\x1b" not in log.text
        assert "Working on site pattern" in server.get(f"/jobs/{job_id}/logs", params={"stream": "stderr"}).text

        # follow: events arrive while the job runs; the cancel ends the stream with its state
        with requests.get(f"{server.base}/jobs/{job_id}/logs", params={"follow": "true", "tail": 2},
                          stream=True, timeout=(5, 60)) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = sse_events(stream)
            first = [next(events), next(events)]
            assert [name for name, _ in first] == ["log", "log"]
            cancelled = server.post(f"/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
            rest = list(events)
        assert rest[-1][0] == "end" and json.loads(rest[-1][1])["state"] == "cancelled"
        assert any(name == "progress" for name, _ in rest)

        # retry with more resources: a new Slurm job that asked for them, linked to the old one
        retried = server.post(f"/jobs/{job_id}/retry", json={"cpus": 2, "memory_mb": 2048, "time_limit_min": 30})
        assert retried.status_code == 201, retried.text
        attempt = retried.json()
        native_ids.append(attempt["native_id"])
        assert (attempt["attempts"], attempt["previous_job_ids"]) == (2, [job_id])
        assert attempt["resources"] == {"cpus": 2, "memory_mb": 2048, "time_limit_min": 30}
        in_slurm = slurm_job_resources(slurm_ids(attempt["native_id"])[0])
        assert in_slurm == (2, 2048, 30), in_slurm  # (cpus, memory_per_node, time_limit)
        assert job(server, job_id)["retried_as"] == attempt["job_id"]
        assert server.post("/methods/fel-result", json=body).json()["job_id"] == attempt["job_id"]
        wait_job(server, attempt["job_id"], lambda b: b["status"] == "running", "to run", deadline_s=120)
        assert server.post(f"/jobs/{attempt['job_id']}/cancel").json()["state"] == "cancelled"

        # resources no node has: Slurm's refusal is the client's 422, naming the field
        refused = server.post(f"/jobs/{attempt['job_id']}/retry", json={"cpus": 64})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["cpus"]
        assert "retried_as" not in job(server, attempt["job_id"])
    finally:
        for native_id in native_ids:
            stop_in_slurm(native_id)


def test_report_annotations_listing_and_metrics(server):
    alignment = upload_adh(server)
    job_id = server.post("/methods/fel-start", json={"alignment": alignment}).json()["job_id"]
    done = wait_job(server, job_id, lambda b: b["status"] in ("completed", "error"), "to finish")
    assert done["status"] == "completed", done
    assert "progress_detail" not in done

    report = server.get(f"/jobs/{job_id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text and job_id in report.text and "<script" not in report.text.lower()

    assert server.post(f"/jobs/{job_id}/retry").status_code == 409  # completed: nothing to retry
    patched = requests.patch(f"{server.base}/jobs/{job_id}", json={"labels": {"gene": "adh"}, "notes": "live"},
                             timeout=30)
    assert patched.status_code == 200 and patched.json()["annotations"] == {"labels": {"gene": "adh"}, "notes": "live"}
    page = server.get("/jobs", params={"limit": 1}).json()
    assert [j["job_id"] for j in page["jobs"]] == [job_id]
    assert [j["job_id"] for j in server.get("/jobs", params={"since": done["finished"]}).json()["jobs"]] == [job_id]
    assert server.get("/jobs", params={"since": "2999-01-01T00:00:00Z"}).json()["jobs"] == []

    for url in (f"{server.base}/metrics", server.base.removesuffix("/api/v1") + "/metrics"):
        scraped = requests.get(url, timeout=30)
        assert scraped.status_code == 200, url
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        jobs = {(s.labels.get("method"), s.labels.get("state")): s.value
                for s in families["datamonkey_jobs"].samples}
        assert jobs[("fel", "completed")] >= 1
        calls = {(s.labels["endpoint"], s.labels["outcome"]): s.value
                 for s in families["datamonkey_slurmrestd_calls"].samples if s.name.endswith("_total")}
        assert calls[("job/submit", "ok")] >= 1 and calls[("jobs", "ok")] >= 1, calls
        latency = {s.labels["operation"]: s.value for s in families["datamonkey_http_request_duration_seconds"].samples
                   if s.name.endswith("_count") and s.labels["status_class"] == "2xx"}
        assert latency["getJobReport"] >= 1 and latency["startFELJob"] >= 1
