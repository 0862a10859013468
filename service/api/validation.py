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
        message = f"{error.instance!r} is not valid: expected {error.schema['description']}"
    else:
        message = error.message
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 1] + "…"


class StructuredJSONBodyValidator(JSONRequestBodyValidator):
    """Reads the whole JSON body (REQUEST_MAX_BYTES bounds it), validates it, replays it to Flask.

    Unlike Connexion's validator it does not decide "no body" from a missing Content-Length (a
    chunked body has none: Connexion refused it as "RequestBody is required"), and it hands the
    Flask side headers that let it read the body as JSON: the real length instead of
    Transfer-Encoding (Werkzeug reads nothing without a length), and `application/json` when the
    client sent no Content-Type (Connexion validates such a body as JSON, the handler then got
    raw bytes and failed with a 500).
    """

    async def wrap_receive(self, receive, *, scope):
        chunks: list[bytes] = []
        more_body = True
        while more_body:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunks.append(message.get("body", b""))
            more_body = message.get("more_body", False)
        raw = b"".join(chunks)
        body = self._decode(raw)
        if body is None and self._required:
            raise InvalidRequestProblem([FieldError("body", "a JSON request body is required")])
        if not (body is None and self._nullable):
            self._validate(body)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(len(raw)).encode()))
        if not any(k.lower() == b"content-type" for k, _ in headers):
            headers.append((b"content-type", b"application/json"))
        replay = self._insert_messages(receive, messages=[{"type": "http.request", "body": raw, "more_body": False}])
        return replay, {**scope, "headers": headers}

    def _decode(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            body = json.loads(raw.decode(self._encoding))
        except RecursionError:
            body = None
        except (UnicodeDecodeError, LookupError, ValueError) as exc:
            raise InvalidRequestProblem([FieldError("body", f"malformed JSON: {exc}")]) from None
        else:
            if _depth_within(body, MAX_JSON_DEPTH):
                return body
        # Python's parser (and later jsonschema, json.dumps) recurse: a deep body would be a 500
        raise InvalidRequestProblem([FieldError("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")])

    def _validate(self, body: Any) -> None:
        if body is None:
            if self._required and not self._nullable:  # an optional body may be left out
                raise InvalidRequestProblem([FieldError("body", "a JSON request body is required")])
            return
        validator = Draft4RequestValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            raise InvalidRequestProblem([FieldError(_field(e.path, "body"), _message(e)) for e in errors])


#: Nesting the request bodies need is 3 levels at most (`genetic_code` objects, `branch_sets` lists).
MAX_JSON_DEPTH = 32
#: jsonschema messages quote the offending value: keep an echo of a huge value short.
MAX_MESSAGE_CHARS = 300


def _depth_within(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` arrays/objects deep (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


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
