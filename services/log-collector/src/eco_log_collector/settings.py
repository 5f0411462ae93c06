"""Settings of the log collector (prefix `ECO_LOG_COLLECTOR_`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from eco_shared.settings import ServiceSettings


class LogCollectorSettings(ServiceSettings):
    """Storage, ingestion, retention and query limits of the log collector."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_LOG_COLLECTOR_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = "log-collector"
    port: int = 5080
    # OTLP batches of 512 spans with attributes outgrow the shared 1 MiB default.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file log_collector.db under data_dir.",
    )
    consumer_group: str = "log-collector"
    consumer_name: str | None = Field(
        default=None,
        description="Stable consumer name, so a restarted collector re-reads its own pending "
        "entries at once; default the instance id.",
    )
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    block_ms: int = Field(default=500, ge=1)
    reclaim_idle_ms: int = Field(default=30_000, ge=100)
    max_deliveries: int = Field(default=10, ge=1)

    retention_days: float = Field(default=7.0, gt=0)
    retention_interval_s: float = Field(default=3600.0, gt=0)
    retention_batch_size: int = Field(default=5000, ge=1, le=100_000)

    max_page_size: int = Field(default=1000, ge=1)
    max_tail_clients: int = Field(default=64, ge=1)
    tail_block_ms: int = Field(default=1000, ge=10, le=4000)
    max_otlp_decompressed_bytes: int = Field(default=64 * 1024 * 1024, gt=0)

    @model_validator(mode="after")
    def _storage_defaults(self) -> LogCollectorSettings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'log_collector.db'}"
        if self.consumer_name is None:
            self.consumer_name = self.instance_id
        return self

    @property
    def db_url(self) -> str:
        """The database URL (always set after validation)."""
        assert self.database_url is not None
        return self.database_url
