"""Settings of this service: `ECO_CONSOLE_*` environment variables."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eco_shared.settings import ServiceSettings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ECO_CONSOLE_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = "console"
    port: int = 5030
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the console answers to; default: loopback, the public URL's host.",
    )
    session_idle_s: int = Field(
        default=30 * 60, gt=0, description="A session unused this long ends."
    )
    session_absolute_s: int = Field(
        default=12 * 3600, gt=0, description="A session ends this long after sign-in, used or not."
    )
    page_size: int = Field(default=20, ge=1, le=100)
    trace_row_budget: int = Field(
        default=400, ge=10, description="Rows of a waterfall drawn at once; the rest on demand."
    )
    trace_open_depth: int = Field(
        default=4, ge=1, description="Waterfall rows deeper than this start collapsed."
    )
    user_clients: int = Field(
        default=256, ge=1, description="Signed-in users whose token caches are kept in memory."
    )

    def hosts(self) -> set[str]:
        """The host names (without port) the console accepts in `Host`."""
        if self.allowed_hosts:
            return {h.lower() for h in self.allowed_hosts}
        public = urlsplit(self.base_url).hostname or ""
        return {*LOOPBACK_NAMES, public.lower()} - {""}

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")
