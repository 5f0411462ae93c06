"""Doc-store settings (prefix `ECO_DOC_STORE_`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from eco_doc_store.search import DEFAULT_SEARCH_MAX_CHARS, SEARCH_COUNT_CAP
from eco_shared.settings import ServiceSettings

MIB = 1024 * 1024
# Room for title, metadata and provenance next to the base64 content in one request body.
_BODY_HEADROOM = 2 * MIB


class DocStoreSettings(ServiceSettings):
    """Settings of the doc store."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_DOC_STORE_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "doc-store"
    port: int = 5087
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default a SQLite file doc_store.db in data_dir."
    )
    max_content_bytes: int = Field(default=10 * MIB, gt=0)
    inline_content_max_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="Text documents up to this size carry `content` in their JSON view.",
    )
    bundle_fetch_timeout_s: float = Field(
        default=5.0, gt=0, description="How long a ZIP bundle waits for the log collector."
    )
    bundle_log_limit: int = Field(
        default=1000, gt=0, le=1000, description="Log lines of the run put in a ZIP bundle."
    )
    search_max_chars: int = Field(
        default=DEFAULT_SEARCH_MAX_CHARS,
        gt=0,
        description="How much of a document's text goes into the full-text index.",
    )

    search_count_cap: int = Field(
        default=SEARCH_COUNT_CAP,
        ge=1,
        description="A search's `total` counts matches exactly up to this many (or to the end"
        " of the page asked for); past it, `total` says that bound.",
    )

    @model_validator(mode="after")
    def _doc_store_defaults(self) -> DocStoreSettings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'doc_store.db'}"
        if "max_body_bytes" not in self.model_fields_set:
            # A document at the content limit must fit as base64 inside its JSON request.
            self.max_body_bytes = 4 * -(-self.max_content_bytes // 3) + _BODY_HEADROOM
        return self

    @property
    def db_url(self) -> str:
        """The database URL (always set after validation)."""
        assert self.database_url is not None
        return self.database_url
