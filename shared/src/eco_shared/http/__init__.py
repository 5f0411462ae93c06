"""The one HTTP client for calls between services.

Timeouts, retries with full-jitter backoff for idempotent calls, a circuit breaker per
target (`scheme://host:port`), W3C trace propagation, and a `CallRecord` of every call
for provenance (`record_calls()` or an `on_call` hook).

`_client` is the `ServiceClient`, `_retry` the retry policy, `_breaker` the circuit
breaker, `_records` the call records, `_errors` what a failed call raises, `_transport` a
transport that loads the CA bundle only when an https call needs it.
"""

from eco_shared.http._breaker import BreakerState, CircuitBreaker, Clock
from eco_shared.http._client import DEFAULT_TIMEOUT, SERVICE_URL_SCHEME, Resolver, ServiceClient
from eco_shared.http._errors import (
    CircuitOpenError,
    ServiceCallError,
    ServiceUnavailableError,
    read_problem,
)
from eco_shared.http._records import CallHook, CallRecord, Outcome, record_calls
from eco_shared.http._retry import IDEMPOTENT_METHODS, RETRY_STATUSES, RetryPolicy, retry_after_s
from eco_shared.http._transport import LazyTLSTransport, verifying_tls_context

__all__ = [
    "read_problem",
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "SERVICE_URL_SCHEME",
    "BreakerState",
    "CallHook",
    "CallRecord",
    "CircuitBreaker",
    "CircuitOpenError",
    "LazyTLSTransport",
    "Clock",
    "Outcome",
    "Resolver",
    "RetryPolicy",
    "ServiceCallError",
    "ServiceClient",
    "ServiceUnavailableError",
    "record_calls",
    "retry_after_s",
    "verifying_tls_context",
]
