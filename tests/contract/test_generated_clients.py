"""Python clients generated from both upstream specs, run against the real server.

OpenAPI Generator (PyPI `openapi-generator-cli`, which bundles its jar: no download, Java 11+
needed) generates a client from api-datamonkey v1.0.0 and v1.2.0 at test time, cached under
.cache/generated-clients/ by spec and generator version. Each client runs upload → fel-start →
fel-result (polled until completed) and, v1.2.0 only (v1.0.0 has no such operations), the job
list, the job and its deletion, against `python -m service` (uvicorn) on 127.0.0.1 with the
LocalScheduler and real HyPhy. Every call must answer a status its spec declares for that
operation and deserialise into the spec's model, except where the spec itself is wrong:

Upstream spec defects (asserted below, so a corrected spec shows up as a failing test here):
- TESTED_ENUM (both): `tested` is `{partition: {branch: enum ["tested", "background"]}}`, but
  HyPhy writes "test" (RELAX "Test"/"Reference", Contrast-FEL the set names, BGM a plain 0); the
  generated validator of that map-of-map enum even compares the inner objects with the enum and
  raises TypeError. Results of FEL, MEME, BUSTED, RELAX, BGM, Contrast-FEL (and v1.2.0 SLAC,
  FUBAR, MULTI-HIT, FADE) do not deserialise as HyPhy writes them.
- ADDITIONAL_PROPERTIES (both): FEL, MEME, BUSTED and aBSREL `branch attributes` declare a
  *property literally named* `additionalProperties` under `properties` (meant as the keyword), so
  the model has fields `additionalProperties` and `attributes` only and HyPhy's per-partition
  branch values ("0": {branch: …}) are silently dropped.
- SLAC_MLE_CONTENT (v1.2.0): SLAC `MLE.content` is `{partition: [rows]}`; HyPhy writes
  `{partition: {"by-site": …, "by-branch": …}}`.
- GARD_BPS (both): GARD `breakpointData.*.bps` are integer pairs; HyPhy 2.5.46 writes them as
  strings in the JSON here (`[["1", "762"]]`).
- GARD_TREES (both): GARD `trees` is a map of objects; HyPhy writes `{"newickString": "(…)"}`.
- BGM_ATTRIBUTE_TYPE (both): BGM `branch attributes.attributes.*."attribute type"` is a number;
  HyPhy writes text ("branch length").
- SPEC_VALIDATION (both): neither spec passes OpenAPI validation (`Health.optional`, a root
  `parameters`, `InputInfo`/`AnalysisInfo` properties written as `authors: string`), so the
  generator runs with --skip-validate-spec.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.crash.server import ServiceProcess, tiny_alignments
from tests.integration.helpers import HYPHY_GENERIC, settings_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path("/work/shared/reference")
SPECS = {"v1_0_0": REFERENCE / "api-datamonkey.d-callan.openapi.yaml",
         "v1_2_0": REFERENCE / "api-datamonkey.veg.openapi.yaml"}
CACHE = REPO / ".cache" / "generated-clients"
RESULTS = REPO / "tests" / "fixtures" / "results"
TOKEN = "generated-client-" + "c" * 16
RESULT_MODELS = {"fel": "FelResult", "meme": "MemeResult", "slac": "SlacResult", "fubar": "FubarResult",
                 "absrel": "AbsrelResult", "busted": "BustedResult", "relax": "RelaxResult", "gard": "GardResult",
                 "bgm": "BgmResult", "contrast-fel": "ContrastFelResult", "multihit": "MultihitResult",
                 "fade": "FadeResult"}
#: Each defect above → the top-level key of HyPhy's result it makes undeserialisable.
DEFECT_KEYS = {"TESTED_ENUM": "tested", "SLAC_MLE_CONTENT": "MLE", "GARD_BPS": "breakpointData",
               "GARD_TREES": "trees", "BGM_ATTRIBUTE_TYPE": "branch attributes"}
_BOTH = {"fel": ["TESTED_ENUM"], "meme": ["TESTED_ENUM"], "busted": ["TESTED_ENUM"], "relax": ["TESTED_ENUM"],
         "contrast-fel": ["TESTED_ENUM"], "bgm": ["TESTED_ENUM", "BGM_ATTRIBUTE_TYPE"],
         "gard": ["GARD_BPS", "GARD_TREES"]}
#: spec version → method → the defects its HyPhy 2.5.46 result (tests/fixtures/results) meets.
RESULT_DEFECTS = {
    "v1_0_0": _BOTH,  # v1.0.0 declares SLAC, FUBAR, MULTI-HIT results as plain objects
    "v1_2_0": {**_BOTH, "slac": ["TESTED_ENUM", "SLAC_MLE_CONTENT"], "fubar": ["TESTED_ENUM"],
               "multihit": ["TESTED_ENUM"], "fade": ["TESTED_ENUM"]},
}


# -- generating and importing the clients ----------------------------------------------------------
def generator_version() -> str:
    from importlib.metadata import version

    return version("openapi-generator-cli")


def generate(version: str) -> Path:
    """The generated client of one spec, from the cache when this spec and generator made it."""
    if shutil.which("java") is None:
        pytest.skip("OpenAPI Generator needs a Java runtime (Debian default-jre-headless)")
    pytest.importorskip("openapi_generator_cli", reason="pip install -e '.[test]'")
    spec = SPECS[version]
    digest = hashlib.sha256(spec.read_bytes() + generator_version().encode()).hexdigest()[:16]
    target = CACHE / f"{version}-{digest}"
    if (target / f"dm_{version}" / "__init__.py").is_file():
        return target
    scratch = CACHE / f".{target.name}.{time.monotonic_ns()}"
    generated = subprocess.run(
        [sys.executable, "-c", "import sys, openapi_generator_cli as g; sys.exit(g.run(sys.argv[1:]).returncode)",
         "generate", "-g", "python", "-i", str(spec), "-o", str(scratch), "--package-name", f"dm_{version}",
         "--skip-validate-spec"],  # SPEC_VALIDATION
        capture_output=True, text=True, timeout=600)
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)  # whole or not at all: a cache hit is always a complete client
    return target


@pytest.fixture(scope="module", params=sorted(SPECS))
def client_package(request) -> tuple[str, ModuleType]:
    version = request.param
    sys.path.insert(0, str(generate(version)))
    try:
        return version, importlib.import_module(f"dm_{version}")
    finally:
        sys.path.pop(0)


def spec_of(version: str) -> dict[str, Any]:
    return yaml.safe_load(SPECS[version].read_text())


def declared(version: str, verb: str, path: str) -> set[int]:
    return {int(code) for code in spec_of(version)["paths"][path][verb]["responses"]}


def check(version: str, verb: str, path: str, response) -> Any:
    """A `*_with_http_info` answer: a declared status, deserialised into the spec's model."""
    assert response.status_code in declared(version, verb, path), (verb, path, response.status_code)
    assert response.data is not None or response.status_code == 204, (verb, path)
    return response.data


def without_tested(result: dict) -> dict:
    """HyPhy's result minus `tested` (TESTED_ENUM)."""
    return {key: value for key, value in result.items() if key != "tested"}


# -- the real server ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServiceProcess]:
    if not HYPHY_GENERIC.exists():
        pytest.skip("HyPhy is not installed (Debian hyphy-pt)")
    root = tmp_path_factory.mktemp("generated-clients")
    process = ServiceProcess(root, settings_for(root, SERVICE_API_TOKENS="", SERVICE_API_TOKENS_FILE=""),
                             name="generated-clients")
    try:
        process.start()
        yield process
    finally:
        process.stop()


def test_a_generated_client_runs_fel_from_upload_to_deletion(client_package, server):
    version, dm = client_package
    v12 = version == "v1_2_0"
    token = {"user_token": TOKEN} if v12 else {}  # v1.0.0 has no user token: the anonymous user
    api = dm.ApiClient(dm.Configuration(host=server.base))
    uploads, fel = dm.FileUploadAndQCApi(api), dm.FELApi(api)

    upload = check(version, "post", "/datasets", uploads.post_dataset_with_http_info(
        meta=dm.DatasetMeta(name="tiny", type="fasta", description=f"generated {version} client"),
        file=("tiny.fas", tiny_alignments(1)[0]), **token))
    alignment = upload.datasets[0].id
    assert isinstance(upload, dm.Datasets)

    # an unknown dataset: InvalidDataError, the one error both specs declare on *-start
    with pytest.raises(dm.ApiException) as refused:
        fel.start_fel_job(fel_request=dm.FelRequest(alignment="f" * 32), **token)
    assert refused.value.status in declared(version, "post", "/methods/fel-start")
    assert [e.var_field for e in dm.InvalidDataError.from_json(refused.value.body).errors] == ["alignment"]

    request = dm.FelRequest(alignment=alignment)
    if v12:  # a poll before the job exists: v1.2.0's NotFoundError (v1.0.0 declares no 404 there)
        with pytest.raises(dm.exceptions.NotFoundException) as missing:
            fel.get_fel_job(fel_request=request, **token)
        assert dm.NotFoundError.from_json(missing.value.body).status == 404
    job = check(version, "post", "/methods/fel-start", fel.start_fel_job_with_http_info(fel_request=request, **token))
    assert isinstance(job, dm.JobStatus) and job.status in ("queued", "running", "completed")

    deadline = time.monotonic() + 600
    while True:
        raw = fel.get_fel_job_without_preload_content(fel_request=request, **token)
        assert raw.status in declared(version, "post", "/methods/fel-result")
        body = json.loads(raw.data)
        if body["status"] not in ("queued", "running"):
            break
        assert dm.FelResult.from_dict(body).job_id == job.job_id  # a status-only answer deserialises
        assert time.monotonic() < deadline, body
        time.sleep(1)
    assert body["status"] == "completed", body.get("error_message")

    # TESTED_ENUM: the result as the service returns it (HyPhy's JSON, unmodified) does not deserialise
    with pytest.raises(TypeError):
        fel.get_fel_job(fel_request=request, **token)
    result = dm.FelResult.from_dict({**body, "result": without_tested(body["result"])})
    assert result.job_id == job.job_id and result.result.mle.headers
    # ADDITIONAL_PROPERTIES: the per-partition branch values are lost in the model
    assert "0" in body["result"]["branch attributes"]
    assert "0" not in result.result.branch_attributes.to_dict()

    if not v12:
        return
    jobs = dm.JobsApi(api)
    by_id = fel.get_fel_job_by_id_without_preload_content(job_id=job.job_id, **token)  # TESTED_ENUM: raw
    assert by_id.status in declared(version, "get", "/methods/fel-result")
    assert json.loads(by_id.data) == body
    listed = check(version, "get", "/jobs", jobs.get_jobs_list_with_http_info(**token, method="fel"))
    assert [j.job_id for j in listed.jobs] == [job.job_id]
    one = check(version, "get", "/jobs/{jobId}", jobs.get_job_by_id_with_http_info(job_id=job.job_id, **token))
    assert one.status == "completed"
    check(version, "delete", "/jobs/{jobId}", jobs.delete_job_with_http_info(job_id=job.job_id, **token))
    with pytest.raises(dm.exceptions.NotFoundException) as gone:
        jobs.get_job_by_id(job_id=job.job_id, **token)
    assert dm.NotFoundError.from_json(gone.value.body).status == 404


@pytest.mark.parametrize("method", sorted(RESULT_MODELS))
def test_hyphy_results_deserialise_except_for_the_spec_defects(client_package, method):
    """Every method's real HyPhy 2.5.46 output (tests/fixtures/results) in each spec's model:
    it deserialises once the keys of its documented defects are left out, and not with any one
    of them left in (so each listed defect is real, and a fixed spec fails this test)."""
    version, dm = client_package
    model = getattr(dm, RESULT_MODELS[method], None)
    if model is None:
        pytest.skip(f"{version} has no {method} result")
    result = json.loads((RESULTS / f"{method}.json").read_text())
    defects = [DEFECT_KEYS[name] for name in RESULT_DEFECTS[version].get(method, [])]

    def deserialises(*left_out: str) -> bool:
        try:
            model.from_dict({"job_id": "a1", "result": {k: v for k, v in result.items() if k not in left_out}})
        except (TypeError, ValueError):  # TESTED_ENUM's TypeError; pydantic's ValidationError
            return False
        return True

    assert deserialises(*defects)
    for kept in defects:
        assert not deserialises(*(key for key in defects if key != kept)), f"{kept} deserialises: spec fixed?"
