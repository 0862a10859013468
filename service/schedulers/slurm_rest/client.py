"""HTTP to slurmrestd in one place: JWT headers, timeouts, error mapping, one auth retry.

Authentication failures in Slurm 22.05 (reference §2): 401 only for missing headers; a token
that is expired, wrongly signed or for another user gets a **500** whose body is identical to
the one for an unreachable slurmctld (`error_number` -1 from `slurm_load_*`), or 5005 "Zero
Bytes were transmitted or received" on submit/cancel. Only the latency differs: a bad token is
refused in milliseconds, a down slurmctld after ~9 s. Slurm 23.02+ (openapi/slurmctld: 24.11,
26.05, recorded in tests/fixtures/slurmrestd/) says so plainly: 511 with error 1007 "Protocol
authentication error". So a 401 or 511, or a *fast* 500 with those codes, triggers one token
refresh (`SlurmJWTManager.refresh_now`, which re-reads the key file) and one retry of the same
request, unless the caller asks for no resend (a job submission: a refused-looking 500 may still
have created the job, so the scheduler looks it up by name first): then TokenRefused.

A request made with a client's own credentials (upstream's pass-through `X-SLURM-USER-TOKEN`)
is never retried with a refreshed service token: a refusal there is the client's 401.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from service.schedulers.base import ClusterCredentials, CredentialsRefused, SchedulerUnavailable
from service.schedulers.slurm_rest import metrics
from service.schedulers.slurm_rest.adapters.base import RestAdapter, SlurmError
from service.schedulers.slurm_rest.discovery import OPENAPI_PATH, ApiVersion

log = logging.getLogger(__name__)

#: Statuses that always mean a refused token (511: Slurm 23.02+).
AUTH_FAILURE_STATUSES = frozenset({401, 511})
#: Error codes a bad token produces in a 500 (22.05: slurm_load_* → -1, submit/kill → 5005;
#: 1007 "Protocol authentication error" is 23.02+'s own code for it).
AUTH_SUSPECT_CODES = frozenset({-1, 1007, 5005})
#: A 500 slower than this is an unreachable slurmctld (~9 s), not a refused token (~10 ms).
AUTH_FAILURE_MAX_S = 3.0
#: (connect, read) seconds. slurmctld being down costs ~9-18 s per call.
TIMEOUT = (5.0, 30.0)


class SlurmRestError(RuntimeError):
    """slurmrestd answered, but with an error (the message carries Slurm's own errors)."""

    def __init__(self, message: str, status: int | None = None, errors: list[SlurmError] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []

    @property
    def codes(self) -> set[int]:
        return {e.code for e in self.errors if e.code is not None}


class TokenRefused(SlurmRestError):
    """The service's token was refused and has been refreshed; the request was not sent again."""


class SlurmRestClient:
    """requests.Session + the JWT manager's headers, relative to one API base path."""

    def __init__(self, base_url: str, api: ApiVersion, jwt, session: requests.Session | None = None, timeout=TIMEOUT):
        self.root = base_url.rstrip("/")
        self.api = api
        self.jwt = jwt
        self.session = session or requests.Session()
        self.timeout = timeout

    @property
    def adapter(self) -> RestAdapter:
        """This client's API version adapter; with SLURM_REST_API_PATH=auto the first use reads
        slurmrestd's OpenAPI document (SchedulerUnavailable when that fails; discovery.py)."""
        return self.api.adapter(self._read_openapi)

    def _read_openapi(self) -> Any:
        response = self._send("GET", OPENAPI_PATH, None, versioned=False)
        if response.status_code != 200:  # a refused token: 401/511, or 22.05's fast 500
            self.jwt.refresh_now()
            response = self._send("GET", OPENAPI_PATH, None, versioned=False)
        metrics.count_slurmrestd_call("GET", OPENAPI_PATH, "ok" if response.status_code == 200 else "http_error")
        document = self.json(response) if response.status_code == 200 else None
        if document is None:
            raise SchedulerUnavailable(f"slurmrestd at {self.root} answered HTTP {response.status_code} to "
                                       f"GET {OPENAPI_PATH}, so its REST API version is unknown")
        return document

    def request(self, method: str, path: str, *, expect=(200,), credentials: ClusterCredentials | None = None,
                resend: bool = True, **kwargs: Any) -> requests.Response:
        """The response if its status is in `expect`; SchedulerUnavailable when unreachable;
        SlurmRestError (with Slurm's errors) otherwise. `credentials`: act as that client's user.
        `resend=False`: after a refused service token, refresh it and raise TokenRefused."""
        headers = ({"X-SLURM-USER-NAME": credentials.user, "X-SLURM-USER-TOKEN": credentials.token}
                   if credentials else None)
        self.api.adapter(self._read_openapi)  # the version first: SchedulerUnavailable when unknowable
        response = self._send(method, path, headers, **kwargs)
        refused = self._refused(method, path, response, expect)
        if credentials and refused:
            raise CredentialsRefused("Unauthorized: slurmrestd refused the X-SLURM-USER-TOKEN sent with this request "
                               "(expired, wrongly signed, or not for X-SLURM-USER-NAME)")
        if not credentials and refused:
            log.warning("slurmrestd refused the token; refreshing it" + (" and retrying once" if resend else ""),
                        extra={"status": response.status_code, "path": path})
            self.jwt.refresh_now()  # SlurmTokenError (a SchedulerUnavailable) when the key file is unreadable
            if not resend:
                raise self._error(method, path, response, TokenRefused)
            response = self._send(method, path, None, **kwargs)
            self._refused(method, path, response, expect)
        if response.status_code in expect:
            return response
        raise self._error(method, path, response, SlurmRestError)

    def _error(self, method: str, path: str, response: requests.Response, kind: type[SlurmRestError]):
        errors = self.adapter.parse_errors(self.json(response))
        detail = "; ".join(str(e) for e in errors) or (response.text or "").strip()[:300] or "no body"
        return kind(f"slurmrestd {method} {path}: HTTP {response.status_code}: {detail}", response.status_code, errors)

    def _send(self, method: str, path: str, headers: dict[str, str] | None, versioned: bool = True,
              **kwargs: Any) -> requests.Response:
        """One HTTP call; `versioned` paths are relative to the API version's base path."""
        url = self.root + (self.api.path if versioned else "") + path
        try:
            kwargs.setdefault("timeout", self.timeout)
            return self.session.request(method, url, headers=headers or self.jwt.headers(), **kwargs)
        except requests.RequestException as exc:
            metrics.count_slurmrestd_call(method, path, "unreachable")
            raise SchedulerUnavailable(f"slurmrestd at {self.root} is unreachable: {type(exc).__name__}") from exc

    def _refused(self, method: str, path: str, response: requests.Response, expect) -> bool:
        """Count this call by outcome (service/metrics.py); True when it failed authentication."""
        outcome = ("ok" if response.status_code in expect
                   else "unauthorized" if self._auth_failure(response) else "http_error")
        metrics.count_slurmrestd_call(method, path, outcome)
        return outcome == "unauthorized"

    def _auth_failure(self, response: requests.Response) -> bool:
        if response.status_code in AUTH_FAILURE_STATUSES:
            return True
        if response.status_code != 500 or response.elapsed.total_seconds() > AUTH_FAILURE_MAX_S:
            return False
        errors = self.adapter.parse_errors(self.json(response))
        return any(e.code in AUTH_SUSPECT_CODES for e in errors)

    @staticmethod
    def json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None


#: 5xx codes that mean "the cluster cannot answer now" rather than "this request is wrong".
OUTAGE_CODES = frozenset({-1, 1800, 5005})


def is_outage(exc: SlurmRestError) -> bool:
    """A 5xx that says slurmctld is unreachable (or the token is refused), not a rejection."""
    return (exc.status or 0) >= 500 and (not exc.codes or exc.codes <= OUTAGE_CODES)
