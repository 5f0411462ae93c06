"""LLM providers behind one interface, and the factory that builds them from settings."""

from eco_llm_gateway.providers._base import (
    FALLBACK_KINDS,
    Message,
    Provider,
    ProviderChunk,
    ProviderError,
    ProviderRequest,
    ProviderResponse,
    ProviderUsage,
    count_tokens,
)
from eco_llm_gateway.providers.anthropic import AnthropicProvider
from eco_llm_gateway.providers.offline import OfflineProvider
from eco_llm_gateway.providers.openai import OpenAIProvider
from eco_llm_gateway.settings import ProviderConfig
from eco_shared.http import ServiceClient

_KINDS: dict[str, type[Provider]] = {
    "offline": OfflineProvider,
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
}


def provider_class(kind: str) -> type[Provider]:
    """The provider class of a configured kind."""
    return _KINDS[kind]


def build_provider(config: ProviderConfig, http: ServiceClient) -> Provider:
    """The provider a configuration describes (remote ones call out through `http`)."""
    if config.kind == "offline":
        return OfflineProvider(config)
    if config.kind == "openai":
        return OpenAIProvider(config, http)
    return AnthropicProvider(config, http)


__all__ = [
    "FALLBACK_KINDS",
    "AnthropicProvider",
    "Message",
    "OfflineProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderChunk",
    "ProviderError",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderUsage",
    "build_provider",
    "provider_class",
    "count_tokens",
]
