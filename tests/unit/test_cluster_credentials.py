"""A client's own Slurm identity (upstream's X-SLURM-USER-NAME / X-SLURM-USER-TOKEN pass-through)."""

from __future__ import annotations

import jwt
import pytest

from service.errors import Unauthorized
from service.identity import cluster_credentials
from tests.unit.fakes import FakeScheduler

KEY = b"k" * 32


def slurm_token(claims: dict) -> str:
    return jwt.encode(claims, KEY, algorithm="HS256")


class SlurmLikeScheduler(FakeScheduler):
    """A fake backend whose jobs run as the client's cluster user, as SlurmRestScheduler's do."""

    accepts_credentials = True


@pytest.fixture
def slurm_fake():
    return SlurmLikeScheduler()


def headers(user: str | None, token: str | None) -> dict[str, str]:
    return {k: v for k, v in (("X-SLURM-USER-NAME", user), ("X-SLURM-USER-TOKEN", token)) if v}


# -- parsing -------------------------------------------------------------------------------------
def test_no_headers_means_the_services_own_identity():
    assert cluster_credentials(None, None) is None
    assert cluster_credentials("", "") is None


def test_the_user_comes_from_the_header_or_else_the_tokens_sun_claim():
    token = slurm_token({"sun": "alice", "exp": 2_000_000_000})
    assert cluster_credentials(None, token).user == "alice"
    assert cluster_credentials("bob", token).user == "bob"  # slurmrestd checks name and token agree
    assert cluster_credentials(None, token).token == token


@pytest.mark.parametrize("user,token,problem", [
    ("alice", None, "without X-SLURM-USER-TOKEN"),
    (None, "not-a-jwt", "not a Slurm JWT"),
    (None, "a.b.c;rm -rf /", "not a Slurm JWT"),
    (None, "x" * 5000, "not a Slurm JWT"),
    (None, slurm_token({"exp": 2_000_000_000}), "no `sun` claim"),
    ("Robert'); DROP", slurm_token({"sun": "alice"}), "not a valid unix user name"),
    (None, slurm_token({"sun": "../../etc"}), "not a valid unix user name"),
])
def test_malformed_credentials_are_a_401_that_does_not_echo_them(user, token, problem):
    with pytest.raises(Unauthorized, match=problem) as caught:
        cluster_credentials(user, token)
    assert caught.value.status == 401
    for value in (user, token):
        if value:
            assert value not in str(caught.value)


def test_the_token_is_not_in_the_credentials_repr():
    token = slurm_token({"sun": "alice"})
    assert token not in repr(cluster_credentials(None, token))


# -- through the API -----------------------------------------------------------------------------
def test_start_with_client_credentials_runs_the_job_as_that_user(client, slurm_fake, adh_id):
    token = slurm_token({"sun": "alice"})
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id}, headers=headers(None, token))
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["cluster_user"] == "alice"
    submitted = slurm_fake.submitted[job["job_id"]].credentials
    assert (submitted.user, submitted.token) == ("alice", token)
    assert client.get(f"/api/v1/jobs/{job['job_id']}").json()["cluster_user"] == "alice"


def test_the_same_request_as_another_cluster_user_is_another_job(client, slurm_fake, adh_id):
    def start_as(credentials: dict) -> str:
        response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id}, headers=credentials)
        assert response.status_code == 200, response.text
        return response.json()["job_id"]

    alice = start_as(headers(None, slurm_token({"sun": "alice"})))
    assert start_as(headers(None, slurm_token({"sun": "alice", "iat": 1}))) == alice  # a fresh token, same user
    assert start_as(headers(None, slurm_token({"sun": "bob"}))) != alice
    service_job = start_as({})
    assert service_job != alice and "cluster_user" not in client.get(f"/api/v1/jobs/{service_job}").json()
    assert slurm_fake.submitted[service_job].credentials is None


def test_delete_passes_the_clients_credentials_to_cancel(client, slurm_fake, adh_id):
    job_id = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id}).json()["job_id"]
    token = slurm_token({"sun": "alice"})
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=headers("alice", token)).status_code == 204
    assert slurm_fake.cancelled == [job_id]
    assert slurm_fake.cancel_credentials[0].user == "alice"


def test_a_backend_without_cluster_users_ignores_the_headers(client, fake, adh_id):
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id},
                           headers=headers(None, slurm_token({"sun": "alice"})))
    assert response.status_code == 200, response.text
    assert "cluster_user" not in response.json()
    assert fake.submitted[response.json()["job_id"]].credentials is None


def test_malformed_headers_are_a_401_in_upstreams_shape(client, slurm_fake, adh_id):
    response = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id},
                           headers={"X-SLURM-USER-TOKEN": "not-a-jwt"})
    assert response.status_code == 401
    body = response.json()
    assert "X-SLURM-USER-TOKEN" in body["message"] and "not-a-jwt" not in response.text
    assert body["request_id"]
    assert slurm_fake.submitted == {}


def test_a_job_run_as_a_cluster_user_is_retried_only_as_that_user(client, slurm_fake, adh_id):
    alice = headers(None, slurm_token({"sun": "alice", "exp": 2_000_000_000}))
    job_id = client.post("/api/v1/methods/fel-start", json={"alignment": adh_id}, headers=alice).json()["job_id"]
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice)
    for other in ({}, headers(None, slurm_token({"sun": "bob", "exp": 2_000_000_000}))):
        refused = client.post(f"/api/v1/jobs/{job_id}/retry", headers=other)
        assert refused.status_code == 401 and "Slurm user alice" in refused.json()["message"], refused.text
    retried = client.post(f"/api/v1/jobs/{job_id}/retry", headers=alice)
    assert retried.status_code == 201 and retried.json()["cluster_user"] == "alice"
    assert slurm_fake.submitted[retried.json()["job_id"]].credentials.user == "alice"
