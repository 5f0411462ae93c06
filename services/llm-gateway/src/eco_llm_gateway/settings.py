"""Settings of the llm-gateway (prefix `ECO_LLM_GATEWAY_`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from eco_shared.settings import ServiceSettings

ProviderKind = Literal["offline", "openai", "anthropic"]
BudgetPeriod = Literal["day", "month"]

# Values people leave in example configs; refused as API keys outside dev.
_PLACEHOLDER = re.compile(
    r"^(?:|changeme|change[-_ ]?me|placeholder|dummy|secret|password|todo|tbd|none|null|test"
    r"|x+|\*+|\.+|<.*>|\$\{.*\}|your[-_ ]?.*key.*|sk-(?:x+|\.+|\*+|your.*|placeholder|changeme))$",
    re.IGNORECASE,
)


def is_placeholder_secret(value: str) -> bool:
    """True for values that are obviously not a real credential."""
    return bool(_PLACEHOLDER.match(value.strip()))


class ProviderConfig(BaseModel):
    """One configured provider (`ECO_LLM_GATEWAY_PROVIDERS` is a JSON list of these)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    kind: ProviderKind
    base_url: str | None = Field(
        default=None,
        description="openai: the API root with /v1 (https://api.openai.com/v1, "
        "http://127.0.0.1:11434/v1 for Ollama); anthropic: https://api.anthropic.com.",
    )
    api_key: SecretStr | None = None
    models: list[str] = Field(default_factory=list, max_length=100)
    local: bool = Field(
        default=False,
        description="Runs on our own machines (offline, Ollama): may receive sensitive prompts.",
    )
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    cost_per_1k_input: float = Field(default=0.0, ge=0, description="USD per 1,000 input tokens.")
    cost_per_1k_output: float = Field(default=0.0, ge=0, description="USD per 1,000 output tokens.")

    @model_validator(mode="after")
    def _complete(self) -> ProviderConfig:
        if self.kind == "offline":
            self.local = True  # nothing leaves the process
            if not self.models:
                self.models = ["extractive-1"]
        else:
            if not self.base_url:
                raise ValueError(f"provider {self.name!r} ({self.kind}) needs a base_url")
            if not re.match(r"^https?://", self.base_url):
                raise ValueError(f"provider {self.name!r}: base_url must be http(s)")
            if not self.models:
                raise ValueError(f"provider {self.name!r} needs at least one model")
        for model in self.models:
            if not model or len(model) > 200 or any(c.isspace() for c in model):
                raise ValueError(f"provider {self.name!r}: invalid model name {model!r}")
        return self


def _default_providers() -> list[ProviderConfig]:
    return [ProviderConfig(name="offline", kind="offline")]


class LlmGatewaySettings(ServiceSettings):
    """The llm-gateway's settings; every one has a working local default."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_LLM_GATEWAY_",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    service_name: str = "llm-gateway"
    port: int = 5055

    providers: list[ProviderConfig] = Field(default_factory=_default_providers, min_length=1)
    routing: list[str] = Field(
        default_factory=list,
        description="Preference list for model `auto` (provider names, or provider/model); "
        "default: the providers in configured order.",
    )
    cache_enabled: bool = True
    cache_ttl_s: int = Field(default=3600, gt=0)
    rate_limit_capacity: float = Field(
        default=120.0,
        ge=0,
        description="Token-bucket burst per principal (unless its API key sets `rpm`); "
        "0 turns the default limit off.",
    )
    rate_limit_refill_per_s: float = Field(default=10.0, gt=0)
    budget_period: BudgetPeriod = Field(
        default="month",
        description="The window an API key's `budget_tokens` counts in (UTC day or calendar "
        "month); a spent budget refills when the next one starts.",
    )
    max_messages: int = Field(default=256, gt=0)
    max_prompt_chars: int = Field(default=200_000, gt=0)
    max_output_tokens: int = Field(default=16_384, gt=0)
    usage_retention_days: int = Field(default=30, gt=0)
    usage_log_max_entries: int = Field(default=1_000_000, gt=0)
    accounting_flush_interval_s: float = Field(
        default=0.02,
        gt=0,
        le=5,
        description="How long usage records, provider outcomes and cache writes gather before "
        "one batch writes them (the gateway's own reports write what is pending first).",
    )
    accounting_batch_size: int = Field(default=500, gt=0, description="Records per MULTI/EXEC.")
    accounting_max_pending: int = Field(
        default=10_000,
        gt=0,
        description="Writes the ledger holds; a call that finds it full writes it first.",
    )
    provider_stats_window: int = Field(
        default=100, gt=0, le=10_000, description="Recent calls per provider behind error rate."
    )

    @field_validator("providers")
    @classmethod
    def _unique_names(cls, providers: list[ProviderConfig]) -> list[ProviderConfig]:
        names = [p.name for p in providers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique: {duplicates}")
        return providers

    @model_validator(mode="after")
    def _check(self) -> LlmGatewaySettings:
        names = {p.name: p for p in self.providers}
        for entry in self.routing:
            provider, _, model = entry.partition("/")
            if provider not in names:
                raise ValueError(f"routing names unknown provider {provider!r}")
            if model and model not in names[provider].models:
                raise ValueError(f"routing names unknown model {entry!r}")
        if self.environment != "dev":
            for p in self.providers:
                if p.api_key is not None and is_placeholder_secret(p.api_key.get_secret_value()):
                    raise ValueError(
                        f"provider {p.name!r} has a placeholder api_key; "
                        f"placeholders are refused outside the dev environment"
                    )
        return self

    def provider(self, name: str) -> ProviderConfig | None:
        """The provider configured under `name`."""
        return next((p for p in self.providers if p.name == name), None)

    def preference(self) -> list[tuple[str, str]]:
        """The `auto` order as (provider, model) pairs; a bare provider means its first model."""
        entries = self.routing or [p.name for p in self.providers]
        pairs: list[tuple[str, str]] = []
        for entry in entries:
            provider, _, model = entry.partition("/")
            config = self.provider(provider)
            assert config is not None
            pair = (provider, model or config.models[0])
            if pair not in pairs:
                pairs.append(pair)
        return pairs
