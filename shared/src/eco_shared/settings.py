"""Settings base classes: every service subclasses `ServiceSettings` with its own prefix.

Shared settings (`ECO_REDIS_URL`, `ECO_DISCOVERY_URL`, ...) carry explicit aliases, so a
service's own `env_prefix` (`ECO_DOC_STORE_`) applies only to its own fields.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eco_shared import locations

Environment = Literal["dev", "test", "production"]
AuthMode = Literal["on", "off"]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LogFormat = Literal["auto", "json", "console"]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class EcoSettings(BaseSettings):
    """Settings every process of the ecosystem shares (prefix `ECO_`)."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    environment: Environment = Field(
        default="dev", validation_alias=_alias("ECO_ENVIRONMENT", "environment")
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=_alias("ECO_REDIS_URL", "redis_url"),
    )
    redis_prefix: str = Field(
        default="",
        description="Namespace put in front of every Redis key and stream name.",
        validation_alias=_alias("ECO_REDIS_PREFIX", "redis_prefix"),
    )
    discovery_url: str = Field(
        default=locations.DEFAULT_DISCOVERY_URL,
        validation_alias=_alias(*locations.DISCOVERY_URL_ENV),
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL; spans are exported only when set.",
        validation_alias=_alias(
            "ECO_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp_endpoint"
        ),
    )
    log_level: str = Field(default="INFO", validation_alias=_alias("ECO_LOG_LEVEL", "log_level"))
    log_format: LogFormat = Field(
        default="auto", validation_alias=_alias("ECO_LOG_FORMAT", "log_format")
    )
    data_dir: Path = Field(
        default=locations.DEFAULT_DATA_DIR, validation_alias=_alias(*locations.DATA_DIR_ENV)
    )

    auth: AuthMode = Field(
        default="on",
        description="`off` only for hacking on one machine: every service must bind to loopback.",
        validation_alias=_alias("ECO_AUTH", "auth"),
    )
    auth_issuer: str | None = Field(
        default=None,
        description="Base URL of the token issuer; default: the discovery URL.",
        validation_alias=_alias(*locations.AUTH_ISSUER_ENV),
    )
    auth_dir: Path | None = Field(
        default=None,
        description="The local key material (`.eco/auth/`); default: `<data_dir>/auth`.",
        validation_alias=_alias(*locations.AUTH_DIR_ENV),
    )
    auth_client_secret: SecretStr | None = Field(
        default=None,
        description="This service's client secret; default: read from the auth directory.",
        validation_alias=_alias("ECO_AUTH_CLIENT_SECRET", "auth_client_secret"),
    )

    @property
    def issuer_url(self) -> str:
        """Where the token issuer answers."""
        return locations.issuer_url(self.discovery_url, self.auth_issuer)

    @property
    def auth_path(self) -> Path:
        """The directory of the local key material."""
        return locations.auth_path(self.data_dir, self.auth_dir)

    def key(self, name: str) -> str:
        """Return a Redis key or stream name inside this deployment's namespace."""
        return f"{self.redis_prefix}{name}"


class ServiceSettings(EcoSettings):
    """Settings of one HTTP service; subclasses set `env_prefix="ECO_<SERVICE>_"`."""

    service_name: str = "service"
    service_version: str = "0.1.0"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="Base URL other services use; default http://host:port."
    )
    instance_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    register_with_discovery: bool = True
    lease_ttl_s: float = Field(default=15.0, gt=0)
    max_body_bytes: int = Field(default=1 * 1024 * 1024, gt=0)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    max_inflight_requests: int = Field(
        default=256,
        ge=1,
        description="Requests served at once; more are refused with 503 and Retry-After.",
    )

    @field_validator("port")
    @classmethod
    def _port_range(cls, port: int) -> int:
        # A validator, not Field bounds, so subclasses that override the default keep it.
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {port}")
        return port

    @model_validator(mode="after")
    def _defaults(self) -> ServiceSettings:
        if self.auth == "off" and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"ECO_AUTH=off is refused: {self.service_name} binds to {self.host}, not"
                " loopback; authentication may be off only when every service is local"
            )
        if self.public_url is None:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_url = f"http://{host}:{self.port}"
        if self.instance_id is None:
            self.instance_id = f"{self.service_name}-{socket.gethostname()}-{self.port}"
        return self

    @property
    def base_url(self) -> str:
        """The URL this instance advertises to discovery."""
        assert self.public_url is not None
        return self.public_url.rstrip("/")
