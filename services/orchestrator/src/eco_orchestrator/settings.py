"""Settings of the orchestrator (prefix `ECO_ORCHESTRATOR_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eco_shared.settings import ServiceSettings

FORMATS = ("markdown", "json", "html", "txt", "csv", "pdf")


class OrchestratorSettings(ServiceSettings):
    """Where runs and checkpoints live, how many runs execute at once, and the limits."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_ORCHESTRATOR_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "orchestrator"
    port: int = 5099
    database_url: str | None = Field(
        default=None,
        description="Run store and checkpointer; SQLite files under the data dir when unset.",
    )
    max_in_flight: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Runs executing at once per replica; the rest wait queued in eco.runs.",
    )
    outage_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="A run failing this long after Redis was away is retried, not failed.",
    )
    drain_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="On stop, how long running runs get to finish their current node.",
    )
    reclaim_idle_ms: int = Field(
        default=20_000, ge=500, description="A run entry idle this long is taken over."
    )
    heartbeat_s: float = Field(
        default=0.0, ge=0, description="Claim refresh interval; 0 means reclaim_idle_ms / 4."
    )
    max_deliveries: int = Field(default=10, ge=1)
    # `GET /runs/watch`: one blocking read of eco.events (under the Redis socket timeout)
    watch_block_ms: int = Field(default=1000, ge=10, le=4000)
    watch_ping_s: float = Field(default=15.0, gt=0, le=300)
    node_timeout_s: float = Field(default=60.0, gt=0)
    node_max_attempts: int = Field(default=3, ge=1, le=10)
    execute_timeout_s: float = Field(default=120.0, gt=0)
    max_query_chars: int = Field(default=2000, ge=1)
    review_threshold: float = Field(default=0.9, ge=0, le=1)
    min_confidence: float = Field(default=0.3, ge=0, le=1)
    llm_model: str = "auto"
    checkpoint_retention_s: float = Field(
        default=7 * 24 * 3600.0, ge=0, description="Finished runs' checkpoints are pruned after."
    )
    prune_interval_s: float = Field(default=300.0, gt=0)
    events_retention_s: int = Field(default=7 * 24 * 3600, ge=1)
    max_page_size: int = Field(default=200, ge=1)
    prompt_label: str = Field(
        default="production", max_length=128, description="The label every prompt resolves by."
    )
    prompt_cache_ttl_s: float = Field(
        default=60.0, ge=0, description="A cached prompt is revalidated after this long."
    )
    prompt_retry_s: float = Field(
        default=2.0, gt=0, description="While the prompt store is away, how often to try again."
    )
    prompt_fetch_timeout_s: float = Field(default=5.0, gt=0)
    prompt_seed: bool = Field(
        default=True, description="Push the prompts shipped in code to the prompt store."
    )

    def run_database_url(self) -> str:
        """The SQL URL of the run store."""
        return self.database_url or f"sqlite:///{self.data_dir / 'orchestrator.db'}"

    def prompt_snapshot_path(self) -> Path:
        """The prompt client's on-disk snapshot of the last good prompts."""
        return self.data_dir / "orchestrator-prompts.json"

    def uses_postgres(self) -> bool:
        """Whether runs and checkpoints live in PostgreSQL."""
        return self.run_database_url().startswith(("postgresql", "postgres"))

    def claim_refresh_s(self) -> float:
        """How often a running run's queue entry is re-claimed to show it is alive."""
        return self.heartbeat_s or self.reclaim_idle_ms / 4000
