"""Who is calling: the `Principal` a verified token describes, and how scopes are matched.

Scopes are `<service>:<action>[:<qualifier>]` (DESIGN.md "Identity and access"). `admin`
holds every scope; a scope held with the `:all` qualifier (`docs:read:all`) also holds the
same scope without it (`docs:read`); nothing else is implied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TRUST_DOMAIN = "eco.local"
SERVICE_SUBJECT_PREFIX = f"spiffe://{TRUST_DOMAIN}/service/"
USER_SUBJECT_PREFIX = "user:"
RUN_RESOURCE_PREFIX = "urn:eco:run:"
ADMIN = "admin"

PrincipalKind = Literal["user", "service"]


def service_subject(name: str) -> str:
    """The subject of a service's own tokens (a SPIFFE id)."""
    return SERVICE_SUBJECT_PREFIX + name


def user_subject(user_id: str) -> str:
    """The subject of a user's tokens."""
    return USER_SUBJECT_PREFIX + user_id


def kind_of(subject: str) -> PrincipalKind:
    """`service` for a SPIFFE service id, `user` for everything else."""
    return "service" if subject.startswith(SERVICE_SUBJECT_PREFIX) else "user"


def scope_covers(held: str, wanted: str) -> bool:
    """Whether one held scope grants `wanted`."""
    if held == wanted or held == ADMIN:
        return True
    return held.endswith(":all") and held[: -len(":all")] == wanted


def holds(scopes: Iterable[str], wanted: str) -> bool:
    """Whether any of `scopes` grants `wanted`."""
    if isinstance(scopes, (set, frozenset)):
        # the three scopes that can cover `wanted` (`scope_covers`), looked up, not scanned:
        # every protected request asks this of its principal
        return wanted in scopes or ADMIN in scopes or wanted + ":all" in scopes
    return any(scope_covers(held, wanted) for held in scopes)


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    """The requested scopes that `allowed` grants: a key never holds more than its creator."""
    allowed = frozenset(allowed)
    return frozenset(s for s in requested if holds(allowed, s))


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, from a verified token."""

    subject: str
    scopes: frozenset[str]
    # the services acting for `subject`, nearest first (RFC 8693 `act`, flattened)
    actors: tuple[str, ...] = ()
    key_id: str | None = None
    grant_id: str | None = None
    # what the run grant behind the token was bound to (`urn:eco:run:<id>`), set by the issuer
    resource: str | None = None
    token_id: str | None = None
    expires_at: float = 0.0
    audience: str = ""
    # what the API key allows beyond scopes: {"models": [...], "rpm": n, "budget_tokens": n}
    limits: Mapping[str, Any] = field(default_factory=dict)
    kind: PrincipalKind = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", kind_of(self.subject))

    def has(self, scope: str) -> bool:
        """Whether this principal holds `scope`."""
        return holds(self.scopes, scope)

    def has_all(self, scopes: Iterable[str]) -> bool:
        return all(self.has(s) for s in scopes)

    @property
    def service_name(self) -> str | None:
        """The service's name, for a service acting as itself."""
        if self.kind != "service":
            return None
        return self.subject[len(SERVICE_SUBJECT_PREFIX) :]

    @property
    def run_id(self) -> str | None:
        """The run this token acts for (from its run grant's resource), if any."""
        if self.resource is None or not self.resource.startswith(RUN_RESOURCE_PREFIX):
            return None
        return self.resource[len(RUN_RESOURCE_PREFIX) :] or None

    @property
    def user_id(self) -> str | None:
        if not self.subject.startswith(USER_SUBJECT_PREFIX):
            return None
        return self.subject[len(USER_SUBJECT_PREFIX) :]

    @property
    def owner(self) -> str:
        """Whose resources this caller sees and creates: the subject (a user, when delegated)."""
        return self.subject

    def sees_all(self, service_scope: str) -> bool:
        """Whether the caller may see every principal's resources (`<scope>:all`)."""
        return holds(self.scopes, service_scope + ":all")

    def acting_chain(self) -> list[str]:
        """The subject first, then every service that acted for it (provenance)."""
        return [self.subject, *self.actors]
