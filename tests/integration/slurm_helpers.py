"""Shared pieces of the live Slurm tests (tests/integration/test_slurm_live*.py).

Every live module sets `pytestmark = SLURM_LIVE`: the tests are skipped unless slurmrestd
answers on 127.0.0.1:6820 with a token signed by the cluster's key file (`scripts/local-slurm.sh
start`); with DATAMONKEY_REQUIRE_SLURM=1 (CI) an unusable cluster is an error instead. Jobs run as SLURM_JWT_USERNAME (`datamonkey`): the
job directories live under a world-traversable directory (pytest's own tmp dirs are 0700 for
root), and the service chowns each job directory to that user (see slurm_rest/scheduler.py).

The tests are version-neutral: whichever Slurm runs (`SLURM_SUITE=bookworm|trixie|forky
scripts/local-slurm.sh start`: 22.05, 24.11 or 26.05), the REST API version is the one the service
itself would pick (`discovery.newest_supported` of slurmrestd's GET /openapi/v3), and Slurm is read
and written directly through that version's adapter (`ADAPTER`), so helpers return the service's
neutral `SlurmJob` objects, never a version's raw bodies.

The helpers that stop or restart daemons act only on the pid files in /run/datamonkey-slurm and
bring the cluster back with the idempotent `scripts/local-slurm.sh start` (which restarts the suite
that runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from service.schedulers.slurm_rest.adapters import ADAPTERS, RestAdapter, SlurmJob, SubmitRequest
from service.schedulers.slurm_rest.discovery import OPENAPI_PATH, newest_supported, served_versions
from tests.conftest import store_settings
from tests.integration.helpers import INTEGRATION, services

REST_URL = "http://127.0.0.1:6820"
KEY = Path("/var/lib/datamonkey-slurm/jwt_hs256.key")
RUN_DIR = Path("/run/datamonkey-slurm")
CTLD_STATE = Path("/var/lib/datamonkey-slurm/ctld")
USER = "datamonkey"
REPO = Path(__file__).resolve().parents[2]
LOCAL_SLURM = REPO / "scripts/local-slurm.sh"
ADH_NEXUS_NAME = "adh.nex"

#: Direct reads of slurmrestd: a freshly restarted slurmrestd sometimes resets the first
#: connection, which is not what these tests check, so idempotent reads retry twice.
_READS = requests.Session()
_READS.mount(REST_URL, HTTPAdapter(max_retries=Retry(total=2, connect=2, read=2, backoff_factor=0.5,
                                                     allowed_methods={"GET"})))


def token(lifetime_s: int = 300, key: bytes | None = None, user: str = USER) -> str:
    key = KEY.read_bytes() if key is None else key
    now = int(time.time())
    return jwt.encode({"exp": now + lifetime_s, "iat": now, "sun": user}, key, algorithm="HS256")


def rest_headers() -> dict[str, str]:
    return {"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token()}


def discover_api() -> tuple[str, RestAdapter | None, str]:
    """(API path, its adapter, '') for the version the service would speak with this slurmrestd
    (the newest it serves that has an adapter), else ('', None, why not)."""
    try:
        key = KEY.read_bytes()
    except OSError as exc:
        return "", None, f"no readable Slurm JWT key at {KEY} ({exc.strerror})"
    headers = {"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token(key=key)}
    try:
        response = requests.get(f"{REST_URL}{OPENAPI_PATH}", timeout=30, headers=headers)
    except requests.RequestException as exc:
        return "", None, f"slurmrestd does not answer on {REST_URL} ({type(exc).__name__})"
    if response.status_code != 200:
        return "", None, f"slurmrestd answered GET {OPENAPI_PATH} with {response.status_code}"
    served = served_versions(response.json())
    version = newest_supported(served)
    if version is None:
        return "", None, f"slurmrestd serves REST API {sorted(served)}, none of which has an adapter"
    return f"/slurm/{version}", ADAPTERS[version](), ""


#: The REST API path (`/slurm/v0.0.45` on 26.05) and adapter of the running cluster ('' / None
#: when there is none: every live test is skipped then).
API, ADAPTER, _NO_API = discover_api()


def cluster_answers() -> str:
    """'' when slurmrestd accepts a token signed with the key file, else why not."""
    if _NO_API:
        return _NO_API
    try:
        response = requests.get(f"{REST_URL}{API}/ping", timeout=5, headers=rest_headers())
    except requests.RequestException as exc:
        return f"slurmrestd does not answer on {REST_URL} ({type(exc).__name__})"
    if response.status_code != 200:
        return f"slurmrestd ping answered {response.status_code}"
    return "" if ADAPTER.ping_ok(response.json()) else f"slurmctld does not answer slurmrestd's ping: {response.text}"


def slurm_release() -> str:
    """The running Slurm's release ("22.05.8", "26.05.5"), from a ping's `meta`."""
    response = _READS.get(f"{REST_URL}{API}/ping", headers=rest_headers(), timeout=30)
    return ADAPTER.parse_release(response.json())


def release_at_least(major_minor: str) -> bool:
    """The running Slurm is that release (MAJOR.MINOR) or newer."""
    def key(release: str) -> tuple[int, ...]:
        return tuple(int(part) for part in release.split(".")[:2])
    return key(slurm_release()) >= key(major_minor)


def token_refused(response: requests.Response) -> bool:
    """slurmrestd's answer to a ping with a token slurmctld refuses (wrong key, expired). 22.05: a
    500. 26.05 (observed, v0.0.45): a 200 whose ping entry says `responding: false`, `status:
    "Protocol authentication error"` (other endpoints answer 511 with error 1007)."""
    if response.status_code != 200:
        return response.status_code == 500 if not release_at_least("23.02") else response.status_code in (500, 511)
    return not ADAPTER.ping_ok(response.json())


def node_root() -> Path | None:
    """The chroot the cluster's node runs in (`SLURM_SUITE=forky scripts/local-slurm.sh start`), or
    None when it runs the machine's own Slurm: its HyPhy is the one jobs run."""
    try:
        suite = (RUN_DIR / "suite").read_text().strip()
    except OSError:
        return None
    host = next((line.split("=", 1)[1].strip() for line in Path("/etc/os-release").read_text().splitlines()
                 if line.startswith("VERSION_CODENAME=")), "")
    return None if not suite or suite == host else Path("/var/lib/datamonkey-slurm-roots") / suite


WHY_NOT = cluster_answers()
if WHY_NOT and os.environ.get("DATAMONKEY_REQUIRE_SLURM") == "1":  # CI: a skip would hide a broken cluster
    raise RuntimeError(f"DATAMONKEY_REQUIRE_SLURM=1 but the local Slurm cluster is not usable: {WHY_NOT}")
SLURM_LIVE = [*INTEGRATION, pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "cluster available")]


def cluster_env() -> dict[str, str]:
    """`scripts/local-slurm.sh env`: the settings for this cluster."""
    out = subprocess.run(["bash", str(LOCAL_SLURM), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def new_work_root() -> Path:
    """A world-traversable directory for job directories (`datamonkey` must reach them)."""
    root = Path(tempfile.mkdtemp(prefix="dm-slurm-live-", dir="/tmp"))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def work_root():
    root = new_work_root()
    yield root / "jobs"
    shutil.rmtree(root, ignore_errors=True)


def slurm_settings(stores: Path, work: Path, **extra: Any) -> dict[str, Any]:
    """App settings for the local cluster; a restarted app reuses the same `stores` and `work`."""
    settings = {
        **store_settings(stores), "HYPHY_BINARY": "auto", "SLURM_POLL_SECS": 1, **cluster_env(),
        "JOB_WORK_LOCATION": str(work), **extra,
    }
    assert settings["SCHEDULER_TYPE"] == "SlurmRestScheduler"
    return settings


def build_slurm_app(stores: Path, work: Path, **extra: Any):
    from service.app import create_app
    from service.config import Settings

    return create_app(Settings.from_environ(slurm_settings(stores, work, **extra)), validate_responses=True)


def shutdown(app) -> None:
    services(app).scheduler.shutdown()


# -- reading Slurm directly (not through the service), through the service's own adapter -----------
def slurm_jobs() -> list[SlurmJob]:
    response = _READS.get(f"{REST_URL}{API}/jobs", headers=rest_headers(), timeout=30)
    response.raise_for_status()
    return ADAPTER.parse_jobs(response.json())


def slurm_jobs_named(name: str) -> list[SlurmJob]:
    return [j for j in slurm_jobs() if j.name == name]


def _raw_job(slurm_id: int) -> dict[str, Any] | None:
    response = _READS.get(f"{REST_URL}{API}/job/{int(slurm_id)}", headers=rest_headers(), timeout=30)
    if response.status_code != 200:
        return None
    jobs = [j for j in response.json().get("jobs") or [] if j.get("job_id") == int(slurm_id)]
    return jobs[0] if jobs else None


def slurm_job(slurm_id: int) -> SlurmJob | None:
    raw = _raw_job(slurm_id)
    return None if raw is None else ADAPTER.parse_jobs({"jobs": [raw]})[0]


def _plain(value: Any) -> int | None:
    """A count as 22.05 spells it (an integer) or 23.02+ (`{set, infinite, number}`)."""
    if isinstance(value, dict):
        return value.get("number") if value.get("set") and not value.get("infinite") else None
    return value


def slurm_job_resources(slurm_id: int) -> tuple[int | None, int | None, int | None]:
    """(cpus, memory_per_node MB, time_limit min) of Slurm's own record of the job (fields the
    neutral SlurmJob does not carry; the same names in every REST API version)."""
    raw = _raw_job(slurm_id)
    assert raw is not None, f"Slurm does not know job {slurm_id}"
    return _plain(raw.get("cpus")), _plain(raw.get("memory_per_node")), _plain(raw.get("time_limit"))


def slurm_cancel(slurm_id: int) -> None:
    requests.delete(f"{REST_URL}{API}/job/{int(slurm_id)}", headers=rest_headers(), timeout=30)


#: "Required node not available": right after a slurmctld restart, until slurmd registers
NODE_NOT_AVAILABLE = 2068


def submit_raw(name: str, script: str, cwd: str = "/tmp", time_limit_min: int = 5) -> int:
    """A job submitted straight to slurmrestd (not through the service); its Slurm id."""
    request = SubmitRequest(
        name=name, partition=cluster_env()["SLURM_QUEUE_NAME"], current_working_directory=cwd,
        environment={"PATH": "/usr/bin:/bin"}, standard_output="/dev/null", standard_error="/dev/null",
        cpus_per_task=1, memory_per_node_mb=100, time_limit_min=time_limit_min, script=script)
    response = requests.post(f"{REST_URL}{API}/job/submit", json=ADAPTER.submit_body(request), headers=rest_headers(),
                             timeout=30)
    assert response.status_code == 200, response.text
    result = ADAPTER.parse_submit(response.json())
    assert result.job_id is not None and all(e.code == NODE_NOT_AVAILABLE for e in result.errors), response.text
    return result.job_id


def slurm_ids(native_id: str) -> tuple[int, int]:
    """A record's native id `<slurm id>@<submit time>`."""
    head, _, tail = native_id.partition("@")
    assert head.isdigit() and tail.isdigit(), native_id
    return int(head), int(tail)


# -- daemons -------------------------------------------------------------------------------------
def daemon_pid(name: str) -> int | None:
    try:
        pid = int((RUN_DIR / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def stop_daemon(name: str, timeout_s: float = 30) -> None:
    """Stop one Slurm daemon by its pid file (never by name matching) and wait until it is gone."""
    pid = daemon_pid(name)
    if pid is None:
        return
    os.kill(pid, 15)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 9)
    time.sleep(0.5)


def start_cluster() -> None:
    """`scripts/local-slurm.sh start`: restarts only what is down, returns once slurmrestd answers."""
    run = subprocess.run(["bash", str(LOCAL_SLURM), "start"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, f"local-slurm.sh start failed ({run.returncode}):\n{run.stdout}\n{run.stderr}"


def restart_slurmctld() -> None:
    stop_daemon("slurmctld")
    start_cluster()


# -- through the service ------------------------------------------------------------------------
def fel_body(client, resample: int = 0) -> dict[str, Any]:
    """A FEL request on the adh NEXUS (embedded tree); run time ≈ 7 s + 5.5 s per replicate."""
    from tests.conftest import ADH_NEXUS, upload_id

    return {"alignment": upload_id(client, ADH_NEXUS, name=ADH_NEXUS_NAME), "resample": resample}


def wait_status(client, job_id: str, wanted: tuple[str, ...], deadline_s: float = 300, method: str = "fel"):
    """Poll `*-result` until the job's status is one of `wanted`; its body."""
    from tests.integration.helpers import result_by_id, wait_for

    def poll():
        body = result_by_id(client, method, job_id)
        return body if body["status"] in wanted else None

    return wait_for(poll, f"job {job_id} to become {'/'.join(wanted)}", deadline_s=deadline_s, interval_s=1.0)


def wait_slurm_state(slurm_id: int, wanted: tuple[str, ...], deadline_s: float = 300) -> SlurmJob:
    """Read Slurm directly until job `slurm_id` is in one of the `wanted` states (the adapter's
    state: the base state, or the flag that decides, e.g. REQUEUED)."""
    from tests.integration.helpers import wait_for

    def poll():
        job = slurm_job(slurm_id)
        return job if job is not None and job.state in wanted else None

    return wait_for(poll, f"Slurm job {slurm_id} to become {'/'.join(wanted)}", deadline_s=deadline_s, interval_s=1.0)
