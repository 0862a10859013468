"""Connexion validators that report *every* bad field by name, for upstream's InvalidDataError.

Connexion's stock validators stop at the first error and report it as free text in a 400
problem; clients of api-datamonkey expect 422 `{"errors": [{"field", "message"}]}`. The
multipart validator is replaced by a pass-through: Connexion's would buffer the whole upload in
memory to replay it, while the upload handler streams it to disk and validates `meta` itself.
"""

from __future__ import annotations

import json
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import (
    VALIDATOR_MAP,
    AbstractRequestBodyValidator,
    JSONRequestBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator

from service.errors import FieldError


class InvalidRequestProblem(BadRequestProblem):
    """A validation failure carrying structured field errors (rendered as 422)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(detail="; ".join(str(e) for e in errors))
        self.errors = errors


def _field(path: Any, fallback: str) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else fallback


def _message(error) -> str:
    """jsonschema's message, made readable for oneOf choices ("not valid under any of the given schemas")."""
    if error.validator in ("oneOf", "anyOf") and error.schema.get("description"):
        return f"{error.instance!r} is not valid: expected {error.schema['description']}"
    return error.message


class StructuredJSONBodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream, scope):
        raw = b"".join([message async for message in stream])
        if not raw:
            return None
        try:
            return json.loads(raw.decode(self._encoding))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequestProblem([FieldError("body", f"malformed JSON: {exc}")]) from None

    def _validate(self, body: Any) -> None:
        if body is None:
            if not self._nullable:
                raise InvalidRequestProblem([FieldError("body", "a JSON request body is required")])
            return
        validator = Draft4RequestValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            raise InvalidRequestProblem([FieldError(_field(e.path, "body"), _message(e)) for e in errors])


class StructuredParameterValidator(ParameterValidator):
    def __init__(self, parameters, *args, **kwargs):
        # Connexion 3 appends path-level parameters to the operation's own list in place, once per
        # middleware that builds the operation, so they arrive repeated (and each bad path
        # parameter was reported six times). Keep each (in, name) once; the operation's own wins.
        unique: dict[tuple[str, str], Any] = {}
        for param in parameters:
            unique.setdefault((param["in"], param["name"]), param)
        super().__init__(list(unique.values()), *args, **kwargs)

    def validate_request(self, request) -> None:
        errors: list[FieldError] = []
        if self.strict_validation:
            for name in sorted(self.validate_query_parameter_list(request, security_params=self.security_query_params)):
                errors.append(FieldError(name, "unknown query parameter"))
        checks = {
            "query": self.validate_query_parameter,
            "path": self.validate_path_parameter,
            "header": self.validate_header_parameter,
            "cookie": self.validate_cookie_parameter,
        }
        for location, check in checks.items():
            for param in self.parameters.get(location, []):
                message = check(param, request)
                if message and location == "header":
                    # Never echo a header value: it may be a credential (user_token).
                    limit = param.get("schema", {}).get("maxLength")
                    message = f"invalid header value{f' (at most {limit} characters)' if limit else ''}"
                if message:
                    errors.append(FieldError(param["name"], message.splitlines()[0]))
        if errors:
            raise InvalidRequestProblem(errors)


class StreamingMultipartValidator(AbstractRequestBodyValidator):
    """Leaves the multipart body untouched (no in-memory copy); the handler validates it."""

    async def wrap_receive(self, receive, *, scope):
        return receive, scope


VALIDATORS = {
    "parameter": StructuredParameterValidator,
    "body": MediaTypeDict(
        {
            "*/*json": StructuredJSONBodyValidator,
            "multipart/form-data": StreamingMultipartValidator,
            "application/x-www-form-urlencoded": VALIDATOR_MAP["body"]["application/x-www-form-urlencoded"],
        }
    ),
    "response": VALIDATOR_MAP["response"],
}
