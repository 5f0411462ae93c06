"""Settings of this service: `ECO_PROMPT_STORE_*` environment variables."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from eco_shared.settings import ServiceSettings


class PromptStoreSettings(ServiceSettings):
    """Settings of the prompt store."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_PROMPT_STORE_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = "prompt-store"
    port: int = 5110
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default a SQLite file prompt_store.db in data_dir.",
    )
    watch_block_ms: int = Field(default=1000, ge=10, le=4000)
    watch_ping_s: float = Field(default=15.0, gt=0, le=300)

    @model_validator(mode="after")
    def _prompt_store_defaults(self) -> PromptStoreSettings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'prompt_store.db'}"
        return self

    @property
    def db_url(self) -> str:
        """The database URL (always set after validation)."""
        assert self.database_url is not None
        return self.database_url
