"""SlurmJWTManager: HS256 claims, key re-read on refresh (rotation), clear errors, no key in messages."""

import jwt
import pytest

from service.schedulers.slurm_rest.token import SlurmJWTManager, SlurmTokenError


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def manager_with_clock(tmp_path, lifetime_secs):
    """A manager signing with a 32-byte key, on a clock the test moves."""
    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    clock = FakeClock(1_000_000)
    return SlurmJWTManager(key, "dm", lifetime_secs=lifetime_secs, clock=clock), clock


def test_token_claims_and_headers(tmp_path):
    manager, _ = manager_with_clock(tmp_path, lifetime_secs=600)
    claims = jwt.decode(manager.token(), b"k" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"exp": 1_000_600, "iat": 1_000_000, "sun": "dm"}
    headers = manager.headers()
    assert headers["X-SLURM-USER-NAME"] == "dm"
    assert headers["X-SLURM-USER-TOKEN"] == manager.token()


def test_token_is_reused_until_close_to_expiry(tmp_path):
    manager, clock = manager_with_clock(tmp_path, lifetime_secs=600)
    first = manager.token()
    clock.now += 500
    assert manager.token() == first
    clock.now += 60  # within a minute of exp
    assert manager.token() != first
    assert manager.refreshes == 2


def test_short_lived_tokens_are_reused_for_half_their_lifetime(tmp_path):
    manager, clock = manager_with_clock(tmp_path, lifetime_secs=30)
    first = manager.token()
    clock.now += 10
    assert manager.token() == first
    clock.now += 10
    assert manager.token() != first


def test_refresh_rereads_a_rotated_key(tmp_path):
    key = tmp_path / "jwt.key"
    key.write_bytes(b"a" * 32)
    manager = SlurmJWTManager(key, "dm", clock=FakeClock(1_000_000))
    jwt.decode(manager.token(), b"a" * 32, algorithms=["HS256"], options={"verify_exp": False})
    key.write_bytes(b"b" * 40)
    manager.refresh_now()
    jwt.decode(manager.token(), b"b" * 40, algorithms=["HS256"], options={"verify_exp": False})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(manager.token(), b"a" * 32, algorithms=["HS256"], options={"verify_exp": False})


@pytest.mark.parametrize("content", [None, b"short"])
def test_unusable_key_is_a_clear_error_without_key_material(tmp_path, content):
    key = tmp_path / "jwt.key"
    if content is not None:
        key.write_bytes(content)
    manager = SlurmJWTManager(key, "dm")
    with pytest.raises(SlurmTokenError) as excinfo:
        manager.token()
    assert "SLURM_JWT_KEY_PATH" in str(excinfo.value)
    assert "short" not in str(excinfo.value)


def test_background_job_refreshes_and_shuts_down(tmp_path):
    import time

    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    manager = SlurmJWTManager(key, "dm", refresh_secs=1)
    manager.start()
    try:
        deadline = time.monotonic() + 30
        while manager.refreshes < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert manager.refreshes >= 2
    finally:
        manager.shutdown()
    count = manager.refreshes
    time.sleep(1.5)
    assert manager.refreshes == count
