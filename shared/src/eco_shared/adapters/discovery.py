"""Typed client of discovery, and the wire models its API answers with.

The service builds its requests and responses from these same models, so the adapter and
the service cannot disagree on a field; `check_adapter_against_openapi` holds the paths,
parameters and response fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from eco_shared.adapters._base import BaseServiceAdapter, operation
from eco_shared.capabilities import Capability
from eco_shared.models.discovery_auth import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyPublic,
    KeyRotate,
    WhoAmI,
)

Status = Literal["passing", "warning", "critical"]
CapabilitiesStatus = Literal["pending", "ok", "error"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
INSTANCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
# Every string this matches is a URL the prober can reach; the schema shows it whole, so a
# client (or schemathesis) knows exactly which base URLs are accepted.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
BASE_URL_PATTERN = rf"^https?://[A-Za-z0-9._~-]+(:{_PORT})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
# Explicit whitespace (Python's str.isspace) rather than \s, whose meaning differs by engine.
_SPACE = r"\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=rf"^[^{_SPACE}]+$")]


REGISTERED = "service.registered"
HEALTH_CHANGED = "service.health_changed"
DEREGISTERED = "service.deregistered"
SELF_PRESERVATION = "discovery.self_preservation"
WATCH_TYPES = frozenset({REGISTERED, HEALTH_CHANGED, DEREGISTERED, SELF_PRESERVATION})


class InstanceBase(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    instance_id: str = Field(min_length=1, max_length=128, pattern=INSTANCE_ID_PATTERN)
    base_url: str = Field(
        min_length=1,
        max_length=512,
        pattern=BASE_URL_PATTERN,
        description="An absolute http(s) URL: a host, an optional port (1-65535) and path; "
        "no credentials, query or fragment.",
    )
    version: str = Field(default="0.0.0", min_length=1, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form; at most `max_meta_bytes` (4096 by default) as compact JSON.",
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))


class InstanceCreate(InstanceBase):
    """`POST /instances`: what an instance tells discovery about itself."""

    ttl_s: float | None = Field(
        default=None, gt=0, description="Requested lease; the service default when absent."
    )


class Lease(BaseModel):
    """The answer to a registration or heartbeat."""

    instance_id: str
    ttl_s: float
    lease_expires_at: str
    status: Status
    created: bool = False
    generation: int = Field(
        description="This registration's generation: heartbeats name it (`?generation=`)."
    )


class Check(BaseModel):
    status: Status
    output: str
    time: str | None


class InstancePublic(InstanceBase):
    """One registered instance as discovery sees it."""

    status: Status
    check: Check
    lease_status: Literal["alive", "expired"]
    ttl_s: float
    registered_at: str | None
    last_heartbeat: str | None
    lease_expires_at: str | None
    critical_since: str | None = None
    capabilities_status: CapabilitiesStatus
    capabilities_error: str | None = None
    capabilities_count: int = 0
    owner: str | None = Field(
        default=None, description="The principal that registered the instance (its id's owner)."
    )
    generation: int | None = Field(default=None, description="The current registration.")


class ServiceSummary(BaseModel):
    name: str
    instances: int
    passing: int
    warning: int
    critical: int
    status: Status = Field(description="passing: all pass; warning: some pass; critical: none.")
    versions: list[str]
    tags: list[str]


class ServiceList(BaseModel):
    services: list[ServiceSummary]
    self_preservation: bool


class ServiceInstances(BaseModel):
    name: str
    instances: list[InstancePublic]


class CapabilityHit(Capability):
    service: str
    version: str
    instance_ids: list[str]


class CapabilityPage(BaseModel):
    items: list[CapabilityHit]
    total: int
    limit: int
    offset: int


class DiscoveryAdapter(BaseServiceAdapter):
    """Discovery's API: register, renew, deregister, and query the registry."""

    service_name = "discovery"

    @operation("POST", "/instances", body=True, response=Lease)
    async def register(self, instance: InstanceCreate) -> Lease:
        """Register (or re-register) an instance; the answer is its lease."""
        response = await self._request(
            "POST",
            "/instances",
            operation="register",
            json=instance.model_dump(exclude_none=True),
            idempotent=True,
        )
        return Lease.model_validate(response.json())

    @operation("PUT", "/instances/{instance_id}/heartbeat", query=("generation",), response=Lease)
    async def heartbeat(self, instance_id: str, generation: int) -> Lease:
        """Renew one registration's lease (AdapterError 404 when discovery lost it, 409 when
        another registration holds the id: register again)."""
        response = await self._request(
            "PUT",
            "/instances/{instance_id}/heartbeat",
            operation="heartbeat",
            path_params={"instance_id": instance_id},
            params={"generation": generation},
        )
        return Lease.model_validate(response.json())

    @operation("DELETE", "/instances/{instance_id}", query=("generation",))
    async def deregister(self, instance_id: str, generation: int | None = None) -> None:
        """Remove an instance (only that registration, with `generation`)."""
        await self._request(
            "DELETE",
            "/instances/{instance_id}",
            operation="deregister",
            path_params={"instance_id": instance_id},
            params={"generation": generation} if generation is not None else None,
        )

    @operation("GET", "/instances/{instance_id}", response=InstancePublic)
    async def get_instance(self, instance_id: str) -> InstancePublic:
        """One instance with its status, last check and capability state."""
        response = await self._request(
            "GET",
            "/instances/{instance_id}",
            operation="get_instance",
            path_params={"instance_id": instance_id},
        )
        return InstancePublic.model_validate(response.json())

    @operation("GET", "/services", response=ServiceList)
    async def list_services(self) -> ServiceList:
        """Every service with its instance counts and health."""
        response = await self._request("GET", "/services", operation="list_services")
        return ServiceList.model_validate(response.json())

    @operation("GET", "/services/{name}", query=("healthy",), response=ServiceInstances)
    async def get_service(self, name: str, *, healthy: bool = False) -> ServiceInstances:
        """The instances of one service (only passing ones when `healthy`)."""
        response = await self._request(
            "GET",
            "/services/{name}",
            operation="get_service",
            path_params={"name": name},
            params={"healthy": str(healthy).lower()},
        )
        return ServiceInstances.model_validate(response.json())

    @operation("GET", "/services/{name}/openapi", response=dict[str, Any])
    async def service_openapi(self, name: str) -> dict[str, Any]:
        """The OpenAPI document discovery stored for a service."""
        response = await self._request(
            "GET",
            "/services/{name}/openapi",
            operation="service_openapi",
            path_params={"name": name},
        )
        spec: dict[str, Any] = response.json()
        return spec

    @operation(
        "GET",
        "/capabilities",
        query=("q", "service", "tag", "limit", "offset"),
        response=CapabilityPage,
    )
    async def search_capabilities(
        self,
        q: str | None = None,
        *,
        service: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> CapabilityPage:
        """Operations across services matching a text, a service and/or a tag."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for key, value in (("q", q), ("service", service), ("tag", tag)):
            if value is not None:
                params[key] = value
        response = await self._request(
            "GET", "/capabilities", operation="search_capabilities", params=params
        )
        return CapabilityPage.model_validate(response.json())

    # -- the issuer ----------------------------------------------------------------------

    @operation("GET", "/auth/whoami", response=WhoAmI)
    async def whoami(self) -> WhoAmI:
        """The caller's principal, as its token for discovery says it."""
        response = await self._request("GET", "/auth/whoami", operation="whoami")
        return WhoAmI.model_validate(response.json())

    @operation("POST", "/auth/keys", body=True, response=KeyCreated)
    async def create_key(self, key: KeyCreate) -> KeyCreated:
        """A new API key for the caller; `.key` is its secret, shown this once."""
        response = await self._request(
            "POST",
            "/auth/keys",
            operation="create_key",
            json=key.model_dump(mode="json", exclude_none=True),
        )
        return KeyCreated.model_validate(response.json())

    @operation("GET", "/auth/keys", query=("include_revoked",), response=KeyList)
    async def list_keys(self, *, include_revoked: bool = False) -> KeyList:
        """The caller's keys (every key for an admin); never a secret."""
        response = await self._request(
            "GET",
            "/auth/keys",
            operation="list_keys",
            params={"include_revoked": str(include_revoked).lower()},
        )
        return KeyList.model_validate(response.json())

    @operation("GET", "/auth/keys/{key_id}", response=KeyPublic)
    async def get_key(self, key_id: str) -> KeyPublic:
        """One of the caller's keys (AdapterError 404 for another's, or a revoked one)."""
        response = await self._request(
            "GET", "/auth/keys/{key_id}", operation="get_key", path_params={"key_id": key_id}
        )
        return KeyPublic.model_validate(response.json())

    @operation("POST", "/auth/keys/{key_id}/rotate", body=True, response=KeyCreated)
    async def rotate_key(self, key_id: str, *, grace_s: float = 0) -> KeyCreated:
        """A new secret for the key; the old one keeps working for `grace_s`."""
        response = await self._request(
            "POST",
            "/auth/keys/{key_id}/rotate",
            operation="rotate_key",
            path_params={"key_id": key_id},
            json=KeyRotate(grace_s=grace_s).model_dump(),
        )
        return KeyCreated.model_validate(response.json())

    @operation("DELETE", "/auth/keys/{key_id}")
    async def revoke_key(self, key_id: str) -> None:
        """Revoke a key, at once and for every service."""
        await self._request(
            "DELETE",
            "/auth/keys/{key_id}",
            operation="revoke_key",
            path_params={"key_id": key_id},
        )
