"""Who a request acts for: v1.2.0's `user_token`, without breaking token-less v1.0.0 clients.

- With a user token the request acts for that user; its datasets and jobs are private to it.
  `request_token` says where a token is read from (`Authorization: Bearer`, the `user_token`
  header, the body/form field v1.2.0 also defines).
- Without one it acts for the shared anonymous user (v1.0.0 and the Go README: upload, then
  `GET /datasets` lists it) — unless SESSION_MODE=auto, where a token-less upload opens a new
  session whose token is returned once in `X-Session-Token` (v1.2.0), other token-less calls get
  401, and only tokens this service issued are accepted.

Tokens are never stored: owners are named by a SHA-256 of the token, and issued tokens are
kept only as such hashes and checked with a constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jwt

from service.errors import Forbidden, Unauthorized
from service.schedulers.base import ClusterCredentials
from service.trackers.fs import atomic_write_bytes, sharded

ANONYMOUS = "anonymous"
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class Identity:
    owner: str
    #: Set only on the request that created a session: the token to hand back once.
    new_token: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.owner == ANONYMOUS


def request_token(headers: Mapping[str, str], body_token: Any = None) -> str | None:
    """The user token a request carries, in upstream's order: `Authorization: Bearer <token>`
    (what the Go service-datamonkey checks first), then the `user_token` header (v1.2.0), then the
    body/form `user_token` field. An Authorization of another scheme is not a user token."""
    scheme, _, credentials = (headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("user_token") or (body_token if isinstance(body_token, str) else None)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Sessions:
    """Issued session tokens, stored as hashes under SESSION_LOCATION (auto mode only).

    `api_tokens` (SERVICE_API_TOKENS / SERVICE_API_TOKENS_FILE) locks the service down for shared
    deployments: only those tokens are accepted and token-less requests get 401.
    """

    def __init__(self, root: Path, mode: str, api_tokens: frozenset[str] = frozenset()):
        self.root = Path(root)
        self.mode = mode
        self.root.mkdir(parents=True, exist_ok=True)
        #: Hashes of the configured tokens only; the tokens themselves are not kept.
        self._api_token_hashes = frozenset(token_hash(t) for t in api_tokens)

    def resolve(self, token: str | None, *, may_open_session: bool = False) -> Identity:
        """The identity for a request carrying `token` (None or "" when it sent none)."""
        if token:
            if len(token) > MAX_TOKEN_LENGTH:
                raise Unauthorized("Unauthorized: user token is too long")
            digest = token_hash(token)
            if self._api_token_hashes and not self._configured(digest):
                raise Unauthorized("Unauthorized: Invalid user token")
            if self.mode == "auto" and not self._issued(digest):
                raise Unauthorized("Unauthorized: Invalid user token")
            return Identity(owner=f"u{digest[:40]}")
        if self._api_token_hashes:
            raise Unauthorized("Unauthorized: this server requires a user token "
                               "(header user_token, or Authorization: Bearer <token>)")
        if self.mode != "auto":
            return Identity(owner=ANONYMOUS)
        if may_open_session:
            new_token = secrets.token_urlsafe(32)
            return Identity(owner=f"u{token_hash(new_token)[:40]}", new_token=new_token)
        raise Unauthorized("Unauthorized: Invalid or missing user token")

    def open_session(self, identity: Identity) -> None:
        """Persist a session `resolve` proposed, once the request that needed it succeeded."""
        if identity.new_token:
            digest = token_hash(identity.new_token)
            atomic_write_bytes(sharded(self.root, digest), digest.encode())

    def _configured(self, digest: str) -> bool:
        # compare against every hash, so the time taken does not depend on which one matches
        return sum(hmac.compare_digest(digest, known) for known in self._api_token_hashes) > 0

    def _issued(self, digest: str) -> bool:
        try:
            stored = sharded(self.root, digest).read_bytes()
        except FileNotFoundError:
            return False
        return hmac.compare_digest(stored, digest.encode())


MIN_API_TOKEN_LENGTH = 16


def load_api_tokens(inline: str, path: str) -> frozenset[str]:
    """SERVICE_API_TOKENS (comma-separated) plus SERVICE_API_TOKENS_FILE (one per line, `#`
    comments). Raises ValueError naming the variable, never the token."""
    tokens: list[tuple[str, str]] = [("SERVICE_API_TOKENS", t.strip()) for t in inline.split(",") if t.strip()]
    if path:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"SERVICE_API_TOKENS_FILE {path} cannot be read: {exc.strerror}") from None
        tokens += [("SERVICE_API_TOKENS_FILE", line.strip()) for line in lines
                   if line.strip() and not line.lstrip().startswith("#")]
    for variable, token in tokens:
        if not MIN_API_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
            raise ValueError(f"{variable}: every token must be {MIN_API_TOKEN_LENGTH}-{MAX_TOKEN_LENGTH} "
                             "characters without spaces")
    return frozenset(token for _, token in tokens)


def require_owner(identity: Identity, owner: str, what: str) -> None:
    """401 for an anonymous caller of someone's private object, 403 for another token's."""
    if hmac.compare_digest(identity.owner, owner):
        return
    if identity.anonymous:
        raise Unauthorized(f"Unauthorized: a user token is required for this private {what}")
    raise Forbidden(f"Forbidden: User does not own this {what}")


#: A unix/Slurm user name, and the characters of a JWT (three base64url parts).
_CLUSTER_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
MAX_CLUSTER_TOKEN_LENGTH = 4096


def cluster_credentials(user: str | None, token: str | None) -> ClusterCredentials | None:
    """Upstream's pass-through `X-SLURM-USER-NAME` / `X-SLURM-USER-TOKEN`, checked for shape only.

    slurmrestd decides whether the token is good; here a name without a token, a token that is
    not a JWT, or a user name that is not a valid unix name is a 401 (values are never echoed).
    Without a name header, the user is the token's own `sun` claim (what `scontrol token` signs).
    """
    if not token:
        if user:
            raise Unauthorized("Unauthorized: X-SLURM-USER-NAME was sent without X-SLURM-USER-TOKEN")
        return None
    if len(token) > MAX_CLUSTER_TOKEN_LENGTH or not _JWT.match(token):
        raise Unauthorized("Unauthorized: X-SLURM-USER-TOKEN is not a Slurm JWT")
    if not user:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("Unauthorized: X-SLURM-USER-TOKEN is not a Slurm JWT") from None
        user = claims.get("sun") if isinstance(claims.get("sun"), str) else None
        if not user:
            raise Unauthorized("Unauthorized: send X-SLURM-USER-NAME (the token has no `sun` claim)")
    if not _CLUSTER_USER.match(user):
        raise Unauthorized("Unauthorized: the Slurm user name is not a valid unix user name")
    return ClusterCredentials(user=user, token=token)
