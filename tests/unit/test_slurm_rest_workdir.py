"""JOB_WORK_LOCATION as the Slurm job user sees it: absolute, and every directory above it searchable."""

import logging
import shutil
import tempfile
from pathlib import Path

import pytest

from service.schedulers.base import ComponentHealth
from service.schedulers.slurm_rest.scheduler import SlurmRestScheduler
from service.schedulers.slurm_rest.workdir import reachable

#: A user every Debian system has, neither root nor the owner of the directories below.
JOB_USER = "nobody"


@pytest.fixture
def tree():
    """/tmp/<random>/shared/jobs, all 0755 (tmp_path sits under a 0700 directory: useless here)."""
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    top.chmod(0o755)
    jobs = top / "shared" / "jobs"
    jobs.mkdir(parents=True, mode=0o755)
    yield jobs
    shutil.rmtree(top)


def test_a_reachable_directory_is_healthy(tree):
    assert reachable(tree, JOB_USER) == ComponentHealth("healthy")


def test_a_0700_parent_is_unhealthy_naming_the_directory_and_the_user(tree):
    tree.parent.chmod(0o700)
    check = reachable(tree, JOB_USER)
    assert check.status == "unhealthy"
    assert "'nobody'" in check.reason and "'shared'" in check.reason
    assert str(tree.parent) not in check.reason  # /health is public: the full path goes to the log only
    assert check.detail.startswith(f"{tree.parent}: mode drwx------")


def test_group_and_owner_permissions_count(tree):
    tree.parent.chmod(0o700)
    assert reachable(tree, "root").status == "healthy"
    shutil.chown(tree.parent, user=JOB_USER)
    assert reachable(tree, JOB_USER).status == "healthy"


@pytest.mark.parametrize("root,status,reason", [
    (Path("data/jobs"), "unhealthy", "must be an absolute path"),
    (Path("/nonexistent-datamonkey/jobs"), "unhealthy", "does not exist"),
])
def test_relative_or_missing_is_unhealthy(root, status, reason):
    check = reachable(root, JOB_USER)
    assert check.status == status and reason in check.reason


def test_an_unknown_user_cannot_be_checked(tree):
    assert reachable(tree, "no-such-user-datamonkey").status == "unknown"


class NoJWT:
    def token(self):
        return "t"


def test_the_scheduler_logs_it_at_start_and_reports_job_work(tree, caplog):
    tree.parent.chmod(0o700)
    with caplog.at_level(logging.WARNING):
        sched = SlurmRestScheduler(base_url="http://slurm.test:6820", api_path="/slurm/v0.0.38", partition="debug",
                                   jwt=NoJWT(), username=JOB_USER, start=False, work_root=tree)
    assert [r.reason for r in caplog.records if r.message == "the Slurm job user cannot reach JOB_WORK_LOCATION"] \
        == [reachable(tree, JOB_USER).reason]
    sched.pings.get = lambda: None  # no slurmrestd here
    assert sched.health()["job_work"].status == "unhealthy"
    tree.parent.chmod(0o755)
    assert sched.health()["job_work"].status == "healthy"
    sched.shutdown()


def test_health_shows_the_schedulers_job_work_check_over_the_writable_store(client, fake, monkeypatch):
    blocked = ComponentHealth("unhealthy", "the Slurm job user 'nobody' cannot enter directory 'root'")
    monkeypatch.setattr(fake, "health", lambda: {"job_work": blocked})
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["details"]["job_work"] == "unhealthy"
    assert response.json()["reasons"]["job_work"] == blocked.reason
