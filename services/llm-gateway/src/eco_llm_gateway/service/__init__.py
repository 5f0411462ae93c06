"""The gateway's logic: routing (limits, the caller's allowlist, budget and rate limit,
privacy, provider choice), answering
with fallback, streaming, accounting (usage, cost, cache) and reports, behind `Gateway`."""

from eco_llm_gateway.service._gateway import Gateway
from eco_llm_gateway.service._params import request_schema

__all__ = ["Gateway", "request_schema"]
