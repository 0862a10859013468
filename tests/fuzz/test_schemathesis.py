"""Schema fuzzing: schemathesis drives every operation of openapi.yaml against the live app.

Each operation gets the spec's examples, schemathesis' deterministic coverage cases (boundary
values, missing/extra/wrongly typed fields, wrong content types) and a bounded number of
generated cases, valid and invalid alike, from a fixed seed. Every response must:

- not be a server error, except the deliberate ones: 501 `method_not_available` (NRM, SLATKIN)
  and 503 with Retry-After (scheduler or storage down);
- use a status code, content type, headers and body the spec declares for that operation;
- if it is an error, be in upstream api-datamonkey's shape for its status, carry the
  `request_id` that the X-Request-ID header carries, and hold no stack trace.

About half the generated cases are steered onto objects that exist (`_swap_ids`: the dataset,
tree and job `seeded` in conftest.py creates, known options only, no foreign token), so they
reach found datasets, completed jobs and real job starts, not only 404s and 422s.

The app runs in process (schemathesis' ASGI transport); HyPhy is a stand-in that writes a tiny
result at once (conftest.py). The closing `FUZZ:` line reports cases, operations and statuses.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping

import hypothesis.strategies as st
import schemathesis
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.spec import load_spec
from tests.fuzz.conftest import FUZZ, SEEDS

#: Generated cases per operation in the fuzzing phase (valid and invalid together); the examples and
#: coverage phases add their own deterministic cases (most of the ~8,000 in all). FUZZ_MAX_EXAMPLES
#: raises it for a longer local run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))

CONFIG = schemathesis.Config.from_dict({
    "seed": 20240601,
    "suppress-health-check": ["all"],
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                   "mode": "all"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
})
schema = schemathesis.openapi.from_dict(load_spec(), config=CONFIG)

#: Upstream's error shapes (required keys) by status; other 4xx use NotFoundError's.
ERROR_SHAPES = {401: {"code", "message"}, 403: {"code", "message"}, 422: {"errors"}}
SERVER_ERROR_SHAPE = {"error", "code", "details"}
CLIENT_ERROR_SHAPE = {"error", "status"}
STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages")


class UnplannedServerError(AssertionError):
    pass


@schemathesis.check
def no_unplanned_server_error(ctx: CheckContext, response, case) -> bool | None:
    """`not_a_server_error`, but the spec's deliberate 501 and 503 answers are allowed."""
    status = response.status_code
    if status < 500:
        return None
    body = _json(response)
    if status == 501 and isinstance(body, dict) and body.get("code") == "method_not_available":
        return None
    if status == 503 and response.headers.get("retry-after"):
        return None
    raise UnplannedServerError(f"{case.operation.label} answered {status}: {response.content[:500]!r}")


@schemathesis.check
def error_body_is_upstream_shaped(ctx: CheckContext, response, case) -> bool | None:
    """Every 4xx/5xx: upstream's JSON shape, `request_id` = X-Request-ID, no stack trace."""
    status = response.status_code
    if status < 400:
        return None
    text = response.content.decode("utf-8", "replace")
    assert not any(marker in text for marker in STACK_TRACE_MARKERS), f"stack trace in a {status} body: {text[:500]}"
    body = _json(response)
    assert isinstance(body, dict), f"{status} body is not a JSON object: {text[:300]}"
    shape = ERROR_SHAPES.get(status, SERVER_ERROR_SHAPE if status >= 500 else CLIENT_ERROR_SHAPE)
    assert shape <= set(body), f"{status} body lacks {sorted(shape - set(body))}: {text[:300]}"
    request_ids = response.headers.get("x-request-id") or []
    assert body.get("request_id") and [body["request_id"]] == request_ids, \
        f"request_id {body.get('request_id')!r} != X-Request-ID {request_ids!r}"
    if status == 422:
        # `field` may be "" when the client sent a key named "" (an unknown query parameter or option)
        assert body["errors"] and all(isinstance(e.get("field"), str) and e.get("message") for e in body["errors"]), \
            text[:300]
    return None


CHECKS = [
    no_unplanned_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_body_is_upstream_shaped,
]


def _json(response):
    try:
        return json.loads(response.content)
    except ValueError:
        return None


# -- steering some generated ids onto objects that exist --------------------------------------
DATASET_PARAMS = {"datasetId"}
JOB_PARAMS = {"jobId", "job_id"}
OWNER_HEADERS = {"user_token", "x-slurm-user-name", "x-slurm-user-token"}


def _request_fields(spec) -> dict[str, set[str]]:
    """Path of each method operation with a JSON body → the properties its request schema names."""
    fields = {}
    for path, item in spec["paths"].items():
        body = item.get("post", {}).get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            name = body["schema"]["$ref"].rsplit("/", 1)[-1]
            fields[path] = set(spec["components"]["schemas"][name].get("properties", {}))
    return fields


REQUEST_FIELDS = _request_fields(load_spec())


def _swap_ids(case, choice: int):
    """choice 0 keeps the generated case; 1 swaps in existing ids wherever the case names one."""
    if choice == 0 or not SEEDS.datasets:
        return case
    for container in (case.path_parameters, case.query):
        if isinstance(container, MutableMapping):
            for name in container:
                if name in DATASET_PARAMS:
                    container[name] = SEEDS.datasets[0]
                elif name in JOB_PARAMS:
                    container[name] = SEEDS.jobs[0]
    if isinstance(case.body, dict) and case.operation.path.startswith("/methods/"):
        # a request the method could run: known options only, on the seeded alignment and tree
        known = REQUEST_FIELDS.get(case.operation.path, set())
        for name in [n for n in case.body if n not in known or n == "user_token"]:
            del case.body[name]
        case.body["alignment"] = SEEDS.datasets[0]
        if "tree" in case.body:
            case.body["tree"] = SEEDS.datasets[1]
    if isinstance(case.headers, MutableMapping):  # act as the anonymous owner of the seeds, without Slurm credentials
        for name in [n for n in case.headers if n.lower() in OWNER_HEADERS]:
            del case.headers[name]
    return case


@schema.hook
def flatmap_case(context, case):
    return st.integers(min_value=0, max_value=1).map(lambda choice: _swap_ids(case, choice))


@schema.parametrize()
def test_operation_conforms_to_the_spec(case, fuzz_app, seeded):
    response = case.call(app=fuzz_app)
    FUZZ.record(case.operation.label, response.status_code)
    case.validate_response(response, checks=CHECKS)
