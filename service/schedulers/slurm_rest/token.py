"""Slurm JWT manager: HS256 tokens signed with the cluster's jwt key, refreshed in the background.

slurmrestd 22.05 accepts `X-SLURM-USER-NAME` + `X-SLURM-USER-TOKEN` (not `Authorization:
Bearer`); the token carries `exp`, `iat` and `sun` (the user name). The key file is re-read on
every refresh, so a rotated key is picked up without a restart. An APScheduler 3 background job
refreshes the token every SLURM_JWT_REFRESH_SECS under a lock; `refresh_now()` lets a caller
force one after an authentication failure. The token itself is never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import jwt
from apscheduler.schedulers.background import BackgroundScheduler

from service.schedulers.slurm_rest import metrics
from service.schedulers.base import SchedulerUnavailable

log = logging.getLogger(__name__)


class SlurmTokenError(SchedulerUnavailable):
    """The key file cannot be read or signed with (the message never contains key material).

    The cluster cannot be used without a token, hence a SchedulerUnavailable (503)."""


class SlurmJWTManager:
    def __init__(self, key_path: Path, username: str, lifetime_secs: int = 86400, refresh_secs: int = 43200,
                 clock=time.time):
        self.key_path = Path(key_path)
        self.username = username
        self.lifetime_secs = lifetime_secs
        self.refresh_secs = refresh_secs
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._scheduler: BackgroundScheduler | None = None
        self.refreshes = 0

    def token(self) -> str:
        """A valid token (minted on first use, or when the current one is about to expire)."""
        with self._lock:
            # re-mint a minute before expiry (half the lifetime for very short-lived tokens)
            if self._token is None or self._clock() > self._expires_at - min(60, self.lifetime_secs / 2):
                self._mint()
            return self._token  # type: ignore[return-value]

    def refresh_now(self) -> None:
        with self._lock:
            self._mint()

    def headers(self) -> dict[str, str]:
        return {"X-SLURM-USER-NAME": self.username, "X-SLURM-USER-TOKEN": self.token()}

    def start(self) -> None:
        """Begin periodic refreshes (idempotent)."""
        if self._scheduler is not None:
            return
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(self._scheduled_refresh, "interval", seconds=self.refresh_secs,
                                id="slurm-jwt-refresh", max_instances=1, coalesce=True)
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def _scheduled_refresh(self) -> None:
        try:
            self.refresh_now()
        except SlurmTokenError as exc:
            log.error("slurm token refresh failed", extra={"error": str(exc)})

    def _mint(self) -> None:
        """A new token (counted in datamonkey_slurm_token_refreshes_total, ok or error)."""
        try:
            self._sign()
        except Exception:
            metrics.count_token_refresh(ok=False)
            raise
        metrics.count_token_refresh(ok=True)

    def _sign(self) -> None:
        try:
            key = self.key_path.read_bytes()
        except OSError as exc:
            raise SlurmTokenError(f"cannot read SLURM_JWT_KEY_PATH {self.key_path}: {exc.strerror}") from None
        if len(key) < 32:
            raise SlurmTokenError(f"SLURM_JWT_KEY_PATH {self.key_path} holds {len(key)} bytes; Slurm needs 32 or more")
        now = int(self._clock())
        self._token = jwt.encode({"exp": now + self.lifetime_secs, "iat": now, "sun": self.username}, key, algorithm="HS256")
        self._expires_at = now + self.lifetime_secs
        self.refreshes += 1
        log.info("slurm token refreshed", extra={"user": self.username, "expires_in": self.lifetime_secs})
