"""Discovery's settings (prefix `ECO_DISCOVERY_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

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
    watch_block_ms: int = Field(default=1000, ge=10, le=4000)
    watch_ping_s: float = Field(default=15.0, gt=0, le=300)

    @property
    def window_s(self) -> float:
        """The self-preservation window."""
        return self.self_preservation_window_s or self.check_interval_s
