"""Doubles of remote LLM providers for the gateway's tests: real HTTP servers that speak the
real wire protocols (OpenAI chat completions, Anthropic Messages, both with SSE streaming
and their error bodies), with scripted failures."""

from gateway_doubles._common import ANTHROPIC_KEY, OPENAI_KEY, Behavior, model_answer
from gateway_doubles._double import OFFLINE, ProviderDouble, provider_config, sse_data

__all__ = [
    "ANTHROPIC_KEY",
    "OFFLINE",
    "OPENAI_KEY",
    "Behavior",
    "ProviderDouble",
    "model_answer",
    "provider_config",
    "sse_data",
]
