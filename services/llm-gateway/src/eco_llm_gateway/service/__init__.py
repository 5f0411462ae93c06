"""The gateway's logic: routing (limits, rate limit, privacy, provider choice), answering
with fallback, streaming, accounting (usage, cost, cache) and reports, behind `Gateway`."""

from eco_llm_gateway.service._gateway import Gateway
from eco_llm_gateway.service._params import request_schema
from eco_llm_gateway.service._routing import caller_name

__all__ = ["Gateway", "caller_name", "request_schema"]
