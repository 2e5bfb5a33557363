"""Every GoChat setting, read from `GOCHAT_*` environment variables (or a `.env` file).

One class for all three services so that every setting is documented in one place
(README "Settings") and a deployment can hand the same environment to each service.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/gochat.db"
DEFAULT_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GOCHAT_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Proxies whose X-Forwarded-For is believed (the gateway), comma-separated.
    forwarded_allow_ips: str = "127.0.0.1"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Largest request body any service reads (413 beyond it); the gateway has its own.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)

    data_dir: Path = Path("data")
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = None
    # Prefix of every Redis key and pub/sub channel, so deployments can share one Redis.
    redis_namespace: str = Field(default="gochat", pattern=r"^[A-Za-z0-9_.-]{1,40}$")

    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    jwt_public_key: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "gochat"
    jwt_audience: str = "gochat"
    access_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=365 * 24 * 3600)

    allowed_origins: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ORIGINS
    cookie_secure: bool = False

    password_hash_concurrency: int = Field(default=4, ge=1, le=64)
    password_hash_queue: int = Field(default=64, ge=0, le=10_000)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=1024, le=4 * 1024 * 1024)
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    login_failure_limit: str = "10/minute"
    register_limit: str = "30/minute"

    # The chat service (ws_service).
    ws_history_messages: int = Field(default=50, ge=0, le=1000)
    ws_resume_max_messages: int = Field(default=1000, ge=1, le=10_000)
    ws_rate_per_second: float = Field(default=10.0, gt=0, le=100_000)
    ws_rate_burst: int = Field(default=20, ge=1, le=100_000)
    ws_abuse_limit: int = Field(default=30, ge=1, le=100_000)
    ws_client_queue_frames: int = Field(default=1000, ge=1, le=100_000)
    ws_hub_queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    ws_store_queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    ws_store_batch_max: int = Field(default=500, ge=1, le=10_000)
    ws_gap_wait_ms: int = Field(default=250, ge=0, le=10_000)
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0, le=3600)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0, le=3600)
    presence_ttl_seconds: float = Field(default=10.0, gt=0, le=3600)
    presence_heartbeat_seconds: float = Field(default=3.0, gt=0, le=3600)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// or sqlite+aiosqlite://")
        return value

    @field_validator("login_failure_limit", "register_limit")
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _no_generated_keys_in_production(self) -> Settings:
        if self.env == "production" and not (self.jwt_public_key or self.jwt_public_key_file):
            raise ValueError(
                "production needs GOCHAT_JWT_PUBLIC_KEY_FILE (and the auth service "
                "GOCHAT_JWT_PRIVATE_KEY_FILE); generate a pair with `gochat keygen DIR`"
            )
        return self

    @model_validator(mode="after")
    def _client_queue_holds_a_batch(self) -> Settings:
        if self.ws_client_queue_frames < self.ws_store_batch_max:
            raise ValueError(
                "GOCHAT_WS_CLIENT_QUEUE_FRAMES must be at least GOCHAT_WS_STORE_BATCH_MAX: a "
                "client receives a whole stored batch at once, and a healthy one must fit it"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_inside_ttl(self) -> Settings:
        if self.presence_heartbeat_seconds >= self.presence_ttl_seconds:
            raise ValueError(
                "GOCHAT_PRESENCE_HEARTBEAT_SECONDS must be shorter than "
                "GOCHAT_PRESENCE_TTL_SECONDS, or live users expire between heartbeats"
            )
        return self

    @property
    def access_token_ttl(self) -> timedelta:
        return timedelta(seconds=self.access_token_ttl_seconds)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def describe_error(exc: ValidationError) -> str:
    """One line naming each bad setting, for operators rather than developers."""
    parts = []
    for error in exc.errors():
        name = "GOCHAT_" + "_".join(str(p) for p in error["loc"]).upper() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}: {message}" if name else message)
    return "invalid settings: " + "; ".join(parts)


def load_settings() -> Settings:
    """Read the environment, or exit with one clear line instead of a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        print(f"gochat: {describe_error(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
