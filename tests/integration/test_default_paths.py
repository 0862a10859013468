"""`make run` on a fresh clone: the default, relative stores (`data/…`) with real HyPhy runs.

The LocalScheduler starts each job's runner, and HyPhy, in the job's own directory: a job only
completes there if every path it is given is absolute (issue 12.1).
"""

from __future__ import annotations

from service.app import create_app
from service.config import Settings
from tests.integration.helpers import INTEGRATION, describe, fixture_id, kill_leftover_runners, start, wait_all
from tests.unit.test_config import STORE_PATHS

pytestmark = INTEGRATION


def test_default_settings_run_fel_to_completed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the directory the service starts in
    for name in (*STORE_PATHS, "SCHEDULER_TYPE", "HYPHY_BINARY"):
        monkeypatch.delenv(name, raising=False)
    client = create_app(Settings.from_environ({"LOG_LEVEL": "WARNING"}), validate_responses=True).test_client()
    try:
        body = {"alignment": fixture_id(client, "adh.fasta"), "tree": fixture_id(client, "adh.nwk")}
        job_id = start(client, "fel", body)["job_id"]
        final = wait_all(client, {"fel": ("fel", job_id)})["fel"]
    finally:
        kill_leftover_runners([tmp_path / "data" / "jobs"])
    assert final["status"] == "completed", describe(final)
    assert (tmp_path / "data" / "jobs" / job_id / "result.json").stat().st_size > 0
