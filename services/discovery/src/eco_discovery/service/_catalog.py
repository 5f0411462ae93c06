"""The registry's read side: services, one service's instances, stored specs, capabilities."""

from __future__ import annotations

import json
from typing import Any

from eco_discovery.models import CapabilityHit, CapabilityPage, InstancePublic, ServiceList
from eco_discovery.repository import CapabilityStore, Registry
from eco_discovery.service._views import haystack, summarize, to_public
from eco_shared.problems import NotFound


def _unknown_service(name: str) -> NotFound:
    return NotFound("Service", name, detail=f"No instance of service {name!r} is registered.")


class Catalog:
    """Queries by name, health, capability and tag."""

    def __init__(self, registry: Registry, capabilities: CapabilityStore) -> None:
        self.registry = registry
        self.capabilities = capabilities

    async def services(self) -> ServiceList:
        """Every service with its counts by status; whether self-preservation holds."""
        names = await self.registry.names()
        by_name = await self.registry.instances_of_names(names)
        state = await self.registry.self_preservation()
        return ServiceList(
            services=[summarize(n, by_name.get(n, [])) for n in names if by_name.get(n)],
            self_preservation=state.get("self_preservation") == "1",
        )

    async def service_instances(self, name: str, *, healthy: bool) -> list[InstancePublic]:
        """The instances of one service (only passing ones when `healthy`); 404 when none."""
        records = await self.registry.service_records(name)
        if not records:
            raise _unknown_service(name)
        if healthy:
            records = [r for r in records if r.get("status") == "passing"]
        return [to_public(r) for r in records]

    async def openapi(self, name: str) -> dict[str, Any]:
        """The stored spec of a service: from a passing instance if any, newest version first."""
        records = await self.registry.service_records(name)
        if not records:
            raise _unknown_service(name)
        ranked = sorted(
            (r for r in records if r.get("caps_status") == "ok"),
            key=lambda r: (r.get("status") == "passing", r.get("caps_time", "")),
            reverse=True,
        )
        for record in ranked:
            spec = await self.capabilities.spec(record["instance_id"])
            if spec is not None:
                return spec
        errors = sorted({r.get("caps_error", "") for r in records} - {""})
        raise NotFound(
            "OpenAPI document",
            name,
            detail=f"No OpenAPI document is stored for {name!r}"
            + (f" (last error: {errors[0]})" if errors else " (not fetched yet)."),
        )

    async def search_capabilities(
        self, *, q: str | None, service: str | None, tag: str | None, limit: int, offset: int
    ) -> CapabilityPage:
        """Operations across services, one hit per service version and operation."""
        names = [service] if service else await self.registry.names()
        by_name = await self.registry.instances_of_names(names)
        records = [r for rs in by_name.values() for r in rs if r.get("caps_status") == "ok"]
        caps = await self.capabilities.of([r["instance_id"] for r in records])
        needle = (q or "").strip().lower()
        hits: dict[tuple[str, str, str, str], CapabilityHit] = {}
        for record in records:
            instance_tags = set(json.loads(record.get("tags", "[]")))
            for cap in caps.get(record["instance_id"], []):
                if tag and tag not in cap.get("tags", []) and tag not in instance_tags:
                    continue
                if needle and needle not in haystack(record["name"], cap):
                    continue
                key = (record["name"], record.get("version", ""), cap["method"], cap["path"])
                hit = hits.get(key)
                if hit is None:
                    hits[key] = CapabilityHit(
                        **cap,
                        service=record["name"],
                        version=record.get("version", ""),
                        instance_ids=[record["instance_id"]],
                    )
                else:
                    hit.instance_ids.append(record["instance_id"])
        ordered = [hits[k] for k in sorted(hits)]
        return CapabilityPage(
            items=ordered[offset : offset + limit], total=len(ordered), limit=limit, offset=offset
        )
