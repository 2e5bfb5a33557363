"""Tokens: only a live session's ES256 token signed by our key, for our audience, works."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from jose import jwt

from shared.settings import Settings
from shared.tokens import TokenCodec, generate_key_pair, load_key_pair
from tests.support.users import register


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, object]:
    return jwt.get_unverified_claims(token)


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_token_claims_and_header(client: httpx.AsyncClient) -> None:
    account = await register(client)
    header = jwt.get_unverified_header(account.token)
    assert header["alg"] == "ES256"
    claims = claims_of(account.token)
    assert claims["sub"] == str(account.id)
    uuid.UUID(str(claims["sid"]))
    assert claims["iss"] == "gochat" and claims["aud"] == "gochat"
    assert int(claims["exp"]) > int(claims["iat"])  # type: ignore[call-overload]


async def test_missing_or_malformed_authorization_is_401(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer ...."},
    ):
        response = await client.get("/auth/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()


async def test_alg_none_and_hs256_forgeries_are_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    claims = claims_of(account.token)
    none_token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert (await me(client, none_token)).status_code == 401
    # The classic confusion attack: HMAC "signed" with the public key as the secret.
    public_pem = load_key_pair(settings, need_private=False).public_pem
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    hs_token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert (await me(client, hs_token)).status_code == 401


async def test_tampered_payload_is_refused(client: httpx.AsyncClient) -> None:
    account = await register(client)
    other = await register(client)
    header, _payload, signature = account.token.split(".")
    forged = f"{header}.{b64({**claims_of(account.token), 'sub': str(other.id)})}.{signature}"
    assert (await me(client, forged)).status_code == 401


def _codec(settings: Settings, **kwargs: str) -> TokenCodec:
    keys = load_key_pair(settings, need_private=True)
    return TokenCodec(
        keys,
        issuer=kwargs.get("issuer", settings.jwt_issuer),
        audience=kwargs.get("audience", settings.jwt_audience),
    )


async def test_expired_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    claims = claims_of(account.token)
    past = datetime.now(UTC) - timedelta(hours=2)
    expired = _codec(settings).encode(
        user_id=account.id,
        session_id=uuid.UUID(str(claims["sid"])),
        issued_at=past,
        expires_at=past + timedelta(hours=1),
    )
    assert (await me(client, expired)).status_code == 401


async def test_wrong_issuer_audience_or_key_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    sid = uuid.UUID(str(claims_of(account.token)["sid"]))
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    foreign = TokenCodec(generate_key_pair(), issuer="gochat", audience="gochat")
    for codec in (_codec(settings, issuer="evil"), _codec(settings, audience="other"), foreign):
        token = codec.encode(user_id=account.id, session_id=sid, issued_at=now, expires_at=later)
        assert (await me(client, token)).status_code == 401


async def test_token_without_sid_or_for_unknown_session_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    keys = load_key_pair(settings, need_private=True)
    claims = {k: v for k, v in claims_of(account.token).items() if k != "sid"}
    no_sid = jwt.encode(claims, keys.private_pem, algorithm="ES256")
    assert (await me(client, no_sid)).status_code == 401
    now = datetime.now(UTC)
    unknown = _codec(settings).encode(
        user_id=account.id,
        session_id=uuid.uuid4(),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
    )
    assert (await me(client, unknown)).status_code == 401


async def test_session_of_another_user_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A validly signed token whose sid belongs to someone else does not pass."""
    account = await register(client)
    other = await register(client)
    now = datetime.now(UTC)
    token = _codec(settings).encode(
        user_id=other.id,
        session_id=uuid.UUID(str(claims_of(account.token)["sid"])),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
    )
    assert (await me(client, token)).status_code == 401


async def test_jwks_publishes_the_verifying_key(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.get("/auth/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
    assert "d" not in key  # never the private part
    assert jwt.get_unverified_header(account.token)["kid"] == key["kid"]
    assert jwt.decode(account.token, key, algorithms=["ES256"], audience="gochat")["sub"]
