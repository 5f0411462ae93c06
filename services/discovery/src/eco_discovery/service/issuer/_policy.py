"""What the issuer grants a service, and the token endpoint's refusals (RFC 6749 §5.2)."""

from __future__ import annotations

import re

from eco_shared.auth import narrow
from eco_shared.models.discovery_auth import SERVICE_NAME_PATTERN
from eco_shared.problems import ProblemError

# every service: find others, keep its own registration, check API keys, ship logs
BASE_SCOPES = ("discovery:read", "auth:introspect", "logs:write")
EXTRA_SCOPES: dict[str, tuple[str, ...]] = {
    # the orchestrator stores documents, calls the gateway and reads logs for its runs
    # (the ecosystem report and the incident digest), resolves its prompts, records their
    # exposures and seeds the prompts it ships; acting for a user it gets only what both it
    # and the user hold
    "orchestrator": (
        "docs:read",
        "docs:write",
        "gateway:chat",
        "gateway:read",
        "logs:read",
        "prompts:read",
        "prompts:write",
    ),
    # the doc store puts a run's trace and logs into a document's ZIP bundle
    "doc-store": ("logs:read",),
    # the prompt store asks the gateway for variations of a version
    "prompt-store": ("gateway:chat",),
}
_SERVICE_NAME = re.compile(SERVICE_NAME_PATTERN)

# the scope catalogue (DESIGN.md "Identity and access"), as the OpenAPI document lists it
SCOPES: dict[str, str] = {
    "discovery:read": "list and read services, instances, capabilities; watch",
    "discovery:register:<name>": "register, renew and deregister instances of <name>",
    "auth:keys": "manage one's own API keys",
    "auth:introspect": "introspect tokens presented to oneself (every service)",
    "docs:read": "read one's documents",
    "docs:write": "create, update and delete one's documents",
    "docs:read:all": "read everyone's documents",
    "runs:create": "start runs and queries",
    "runs:read": "read one's runs",
    "runs:write": "review, cancel, give feedback on one's runs",
    "runs:read:all": "read everyone's runs",
    "gateway:chat": "chat, completions, embeddings (OpenAI-compatible /v1/*)",
    "gateway:read": "models, one's own usage",
    "gateway:read:all": "everyone's usage",
    "logs:read": "query logs, traces and events",
    "logs:write": "ingest logs and traces (OTLP, records)",
    "audit:read": "read the audit trail",
    "prompts:read": "read prompts, versions, labels, experiments; render; record exposures",
    "prompts:write": "create prompts and versions, move labels, run experiments, variations",
    "admin": "every scope",
}


def is_service_name(name: str) -> bool:
    """Whether `name` can be a service of the ecosystem (an audience, a client id)."""
    return bool(_SERVICE_NAME.fullmatch(name))


def service_policy(name: str) -> frozenset[str]:
    """The scopes a service gets for its own tokens (client credentials, Kubernetes)."""
    return frozenset({*BASE_SCOPES, f"discovery:register:{name}", *EXTRA_SCOPES.get(name, ())})


def narrowed(scopes: frozenset[str], requested: str | None) -> frozenset[str]:
    """`scopes`, or only those of them a `scope` parameter asks for."""
    if not requested:
        return scopes
    return narrow(requested.split(), scopes)


class TokenRefused(ProblemError):
    """An OAuth error from the token endpoint: problem+json carrying `error` (RFC 6749)."""

    STATUS = {"invalid_client": 401}

    def __init__(self, error: str, description: str) -> None:
        super().__init__(
            self.STATUS.get(error, 400),
            description,
            title="Token refused",
            type=f"urn:eco:problem:oauth:{error}",
            headers={"Cache-Control": "no-store"},
            error=error,
            error_description=description,
        )
        self.error = error
