"""Doubles of remote LLM providers for the gateway's tests: real HTTP servers that speak the
real wire protocols (OpenAI chat completions, Anthropic Messages, both with SSE streaming
and their error bodies), with scripted failures; and the issuer as the gateway's verifier
uses it, with the tokens a test's callers present."""

from gateway_doubles._common import ANTHROPIC_KEY, OPENAI_KEY, Behavior, model_answer
from gateway_doubles._double import OFFLINE, ProviderDouble, provider_config, sse_data
from gateway_doubles._issuer import AUDIENCE, USER_SCOPES, IssuerDouble, caller_headers

__all__ = [
    "ANTHROPIC_KEY",
    "AUDIENCE",
    "OFFLINE",
    "OPENAI_KEY",
    "USER_SCOPES",
    "Behavior",
    "IssuerDouble",
    "ProviderDouble",
    "caller_headers",
    "model_answer",
    "provider_config",
    "sse_data",
]
