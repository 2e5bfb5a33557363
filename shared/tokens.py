"""ES256 access tokens: minted by the auth service alone, verified everywhere with the public key.

A valid signature is not enough for a request: `shared.current_user` also asks the `sessions`
table, so logout and account deletion end a token before it expires.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import JWTError, jwk, jwt

from shared.settings import Settings

ALGORITHM = "ES256"
PRIVATE_KEY_FILENAME = "jwt-private.pem"
PUBLIC_KEY_FILENAME = "jwt-public.pem"
# Tokens whose signature was checked, remembered by their exact text (a signature check was
# about a tenth of a small request's CPU); the oldest is forgotten first.
VERIFIED_TOKENS_KEPT = 4096


class InvalidToken(Exception):
    """Bad signature, wrong algorithm, expired, wrong issuer or audience, or missing claims."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    session_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class KeyPair:
    public_pem: str
    private_pem: str | None  # None outside the auth service

    @property
    def key_id(self) -> str:
        """RFC 7638-style thumbprint, so a client can tell keys apart across a rotation."""
        return hashlib.sha256(self.public_pem.encode()).hexdigest()[:16]


def generate_key_pair() -> KeyPair:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(public_pem=public_pem, private_pem=private_pem)


def write_key_pair(directory: Path, pair: KeyPair) -> None:
    """Private key written 0600 and atomically, so two processes never read half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content, mode in (
        (PRIVATE_KEY_FILENAME, pair.private_pem or "", 0o600),
        (PUBLIC_KEY_FILENAME, pair.public_pem, 0o644),
    ):
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        tmp.replace(directory / name)


def load_key_pair(settings: Settings, *, need_private: bool) -> KeyPair:
    """Keys from settings; in development and tests, a pair generated once into the data folder.

    Services that only verify tokens never load the private key, even when it is configured.
    """
    public = settings.jwt_public_key or _read(settings.jwt_public_key_file)
    private = None
    if settings.jwt_private_key is not None:
        private = settings.jwt_private_key.get_secret_value()
    elif settings.jwt_private_key_file is not None:
        private = _read(settings.jwt_private_key_file)

    if public is None:
        if settings.env == "production":  # Settings refuses this too; never generate there
            raise RuntimeError("GOCHAT_JWT_PUBLIC_KEY_FILE is not set")
        public, private = _generated_pair(settings.data_dir)

    if need_private and not private:
        raise RuntimeError(
            "the auth service needs GOCHAT_JWT_PRIVATE_KEY_FILE (or GOCHAT_JWT_PRIVATE_KEY)"
        )
    _check_pair(public, private if need_private else None)
    return KeyPair(public_pem=public, private_pem=private if need_private else None)


def _generated_pair(directory: Path) -> tuple[str, str]:
    """The data folder's pair, made by whichever process gets the lock first."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".jwt-keys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / PUBLIC_KEY_FILENAME).exists():
            write_key_pair(directory, generate_key_pair())
        return (
            (directory / PUBLIC_KEY_FILENAME).read_text(),
            (directory / PRIVATE_KEY_FILENAME).read_text(),
        )


def _read(path: Path | None) -> str | None:
    """A key file's text; unreadable, one line that says whose permission is missing (the
    Docker image runs as uid 10001, and compose mounts the host's file as it is)."""
    if path is None:
        return None
    try:
        return path.read_text()
    except PermissionError:
        raise RuntimeError(
            f"cannot read {path}: permission denied to uid {os.getuid()}; make the file "
            "readable by that user (for docker compose: chown 10001 deploy/secrets/jwt-private.pem)"
        ) from None


def _check_pair(public_pem: str, private_pem: str | None) -> None:
    public = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise RuntimeError("the JWT public key must be an EC P-256 key (ES256)")
    if private_pem is not None:
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or (
            private.public_key().public_numbers() != public.public_numbers()
        ):
            raise RuntimeError("the JWT private key does not match the public key")


class TokenCodec:
    """Encodes with the private key (auth service only) and decodes with the public key."""

    def __init__(self, keys: KeyPair, *, issuer: str, audience: str) -> None:
        self._keys = keys
        # Built once: python-jose given the PEM text parses it into a key object on every
        # verify (and first tries it as JSON), a third of a signature check's CPU.
        self._verifying_key = jwk.construct(keys.public_pem, ALGORITHM)
        self._issuer = issuer
        self._audience = audience
        self._verified: dict[str, tuple[TokenClaims, int]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, need_private: bool) -> TokenCodec:
        return cls(
            load_key_pair(settings, need_private=need_private),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    def encode(
        self, *, user_id: int, session_id: uuid.UUID, issued_at: datetime, expires_at: datetime
    ) -> str:
        if self._keys.private_pem is None:
            raise RuntimeError("this service holds no private key and cannot mint tokens")
        claims = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "iss": self._issuer,
            "aud": self._audience,
        }
        headers = {"kid": self._keys.key_id}
        return str(jwt.encode(claims, self._keys.private_pem, algorithm=ALGORITHM, headers=headers))

    def decode(self, token: str) -> TokenClaims:
        """The claims of a valid token. The same text verifies the same way every time, so a
        token seen before skips the signature check; its expiry is checked on every call."""
        known = self._verified.get(token)
        if known is None:
            claims = self._verify(token)
            known = claims, int(claims.expires_at.timestamp())
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = known
        claims, expires = known
        if expires < int(time.time()):  # python-jose's rule: expired once `exp` is past
            raise InvalidToken("Signature has expired.")
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require_exp": True,
                    "require_sub": True,
                    "require_iat": True,
                    "require_iss": True,
                    "require_aud": True,
                },
            )
            user_id = int(claims["sub"])
            session_id = uuid.UUID(str(claims["sid"]))
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (JWTError, KeyError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from None
        if user_id <= 0:
            raise InvalidToken("bad subject")
        return TokenClaims(user_id=user_id, session_id=session_id, expires_at=expires_at)

    def jwks(self) -> dict[str, Any]:
        key = self._verifying_key.to_dict()
        key.update({"kid": self._keys.key_id, "use": "sig", "alg": ALGORITHM})
        return {"keys": [key]}
