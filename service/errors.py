"""Errors a client can cause or see, each rendering itself in upstream api-datamonkey's shapes.

Domain code raises these; `service.app` turns them (and Connexion's own problems) into JSON
bodies that always carry the request id the server log line carries too.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base class: `status` is the HTTP status, `body()` the upstream-shaped JSON."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": str(self.status), "details": ""}

    def headers(self) -> dict[str, str]:
        return {}


class FieldError(ValueError):
    """One invalid request field; collected into an InvalidRequest."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidRequest(ApiError):
    """422 `InvalidDataError`: `{"errors": [{"field", "message"}]}`."""

    status = 422

    def __init__(self, errors: list[FieldError] | FieldError):
        self.errors = errors if isinstance(errors, list) else [errors]
        super().__init__("; ".join(str(e) for e in self.errors))

    def body(self) -> dict[str, Any]:
        return {"errors": [{"field": e.field, "message": e.message} for e in self.errors]}


class Unauthorized(ApiError):
    """401 `UnauthorizedError`: `{code, message}`."""

    status = 401

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "message": self.message}


class Forbidden(Unauthorized):
    """403 `ForbiddenError`: `{code, message}`."""

    status = 403


class NotFound(ApiError):
    """404 `NotFoundError`: `{error, status, job_id?}`."""

    status = 404

    def __init__(self, message: str, job_id: str | None = None):
        super().__init__(message)
        self.job_id = job_id

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "status": self.status}
        if self.job_id:
            body["job_id"] = self.job_id
        return body


class DatasetsNotFound(NotFound):
    """A request names dataset ids nobody uploaded (`missing`: field → id). A 404 where the specs
    declare one (POST `*-result`); `*-start` answers `as_invalid_request()`, a 422 naming the
    fields, since v1.0.0 declares no 404 there."""

    def __init__(self, missing: dict[str, str]):
        super().__init__("Not Found - Specified dataset(s) not found: "
                         + ", ".join(f"{field} '{ds_id}'" for field, ds_id in missing.items()))
        self.missing = missing

    def as_invalid_request(self) -> InvalidRequest:
        return InvalidRequest([FieldError(field, f"no dataset has the id '{ds_id}': upload it first (POST /datasets)")
                               for field, ds_id in self.missing.items()])


class ClientError(ApiError):
    """Any other 4xx (405, 409, 413, 415 …): `{error, status}` like NotFoundError."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


class Conflict(ClientError):
    def __init__(self, message: str):
        super().__init__(409, message)


class PayloadTooLarge(ClientError):
    def __init__(self, message: str):
        super().__init__(413, message)


class MethodNotAvailable(ApiError):
    """501 `ServerError`: the method exists in the API but the installed HyPhy cannot run it."""

    status = 501

    def __init__(self, method: str, reason: str):
        super().__init__(f"method '{method}' is not available: {reason}")
        self.method = method
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": "method_not_available", "details": self.reason}


class ServiceUnavailable(ApiError):
    """503 `ServerError` with Retry-After: a dependency (scheduler, storage) is down."""

    status = 503

    def __init__(self, message: str, retry_after: int = 30, code: str = "unavailable"):
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, "details": f"retry after {self.retry_after} s"}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageUnavailable(ServiceUnavailable):
    """503 with Retry-After: a store cannot be written (full, read-only, not permitted).

    Raised instead of the OSError, after the partial write was removed: nothing was half-written.
    `store` names which one ("job tracker", "dataset store", …); the path stays in the log only."""

    def __init__(self, store: str, error: OSError, retry_after: int = 60):
        import errno

        problem = {errno.ENOSPC: "is full", errno.EDQUOT: "is over its quota", errno.EROFS: "is read-only",
                   errno.EACCES: "is not writable", errno.EPERM: "is not writable"}.get(error.errno, "cannot be written")
        super().__init__(f"{store} storage {problem} ({error.strerror or error})", retry_after,
                         code="storage_unavailable")
        self.store = store
        self.errno = error.errno
