"""Discovery's settings (prefix `ECO_DISCOVERY_`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from eco_shared.auth import MalformedKey, parse_key
from eco_shared.settings import ServiceSettings


class DiscoverySettings(ServiceSettings):
    """The registry's leases, probes, limits and self-preservation."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_DISCOVERY_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "discovery"
    port: int = 5045
    # Discovery lists itself by writing its own record to Redis; registering over HTTP with
    # itself would make its start-up depend on its own readiness.
    register_with_discovery: bool = False

    default_ttl_s: float = Field(default=15.0, ge=0.2, le=3600)
    max_ttl_s: float = Field(default=300.0, ge=1, le=86400)
    deregister_critical_after_s: float = Field(default=60.0, ge=0)
    check_interval_s: float = Field(default=10.0, gt=0, description="Health probe interval.")
    check_timeout_s: float = Field(default=2.0, gt=0)
    reap_interval_s: float = Field(default=1.0, gt=0, description="How often leases are checked.")
    self_preservation_share: float = Field(default=0.15, ge=0, le=1)
    self_preservation_min_lapsed: int = Field(
        default=2, ge=1, description="Fewer lapses than this never trigger self-preservation."
    )
    self_preservation_window_s: float | None = Field(
        default=None, gt=0, description="Window the share is counted in; default check_interval_s."
    )
    openapi_timeout_s: float = Field(default=5.0, gt=0)
    openapi_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    probe_concurrency: int = Field(default=32, ge=1, le=1024)
    max_instances: int = Field(default=10_000, ge=1)
    max_meta_bytes: int = Field(default=4096, ge=0)
    read_cache_s: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="Longest age of a kept answer of GET /services/{name} (0: never kept). "
        "Writes of this replica and registry events of any replica drop it at once.",
    )
    watch_block_ms: int = Field(default=1000, ge=10, le=4000)
    watch_ping_s: float = Field(default=15.0, gt=0, le=300)

    # the issuer (DESIGN.md "Identity and access")
    auth_bootstrap_key: SecretStr | None = Field(
        default=None,
        description="The admin API key made sure of at start (default: `<auth dir>/admin.key`).",
        validation_alias=AliasChoices("ECO_AUTH_BOOTSTRAP_KEY", "auth_bootstrap_key"),
    )
    auth_k8s_jwks_url: str | None = Field(
        default=None,
        description="The cluster's JWKS: Kubernetes service-account tokens are accepted.",
        validation_alias=AliasChoices("ECO_AUTH_K8S_JWKS_URL", "auth_k8s_jwks_url"),
    )
    auth_k8s_issuer: str | None = Field(
        default=None,
        description="The `iss` of the cluster's service-account tokens.",
        validation_alias=AliasChoices("ECO_AUTH_K8S_ISSUER", "auth_k8s_issuer"),
    )
    auth_k8s_audience: str = Field(
        default="eco",
        description="The `aud` service-account tokens must carry.",
        validation_alias=AliasChoices("ECO_AUTH_K8S_AUDIENCE", "auth_k8s_audience"),
    )
    auth_k8s_namespaces: list[str] = Field(
        default_factory=list,
        description="Only these namespaces' service accounts (default: any).",
        validation_alias=AliasChoices("ECO_AUTH_K8S_NAMESPACES", "auth_k8s_namespaces"),
    )
    grant_ttl_s: float = Field(
        default=86400.0, gt=0, le=7 * 86400, description="How long a run grant lasts."
    )

    @field_validator("auth_bootstrap_key")
    @classmethod
    def _bootstrap_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_key(value.get_secret_value().strip())
            except MalformedKey as exc:
                raise ValueError(f"ECO_AUTH_BOOTSTRAP_KEY is not an API key: {exc}") from None
        return value

    @model_validator(mode="after")
    def _k8s_complete(self) -> DiscoverySettings:
        if bool(self.auth_k8s_jwks_url) != bool(self.auth_k8s_issuer):
            raise ValueError("ECO_AUTH_K8S_JWKS_URL and ECO_AUTH_K8S_ISSUER go together")
        return self

    @property
    def window_s(self) -> float:
        """The self-preservation window."""
        return self.self_preservation_window_s or self.check_interval_s
