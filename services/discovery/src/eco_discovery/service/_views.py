"""Stored instance records as the wire models, and what a capability search looks through."""

from __future__ import annotations

import json
from typing import Any

from eco_discovery.models import Check, InstancePublic, ServiceSummary
from eco_discovery.repository import ms_to_iso


def to_public(record: dict[str, str]) -> InstancePublic:
    """An instance hash as the wire model."""
    check_status = record.get("check", "passing")
    return InstancePublic(
        name=record["name"],
        instance_id=record["instance_id"],
        base_url=record["base_url"],
        version=record.get("version", "0.0.0"),
        tags=json.loads(record.get("tags", "[]")),
        meta=json.loads(record.get("meta", "{}")),
        status=record.get("status", "passing"),
        check=Check(
            status=check_status,
            output=record.get("check_output", ""),
            time=ms_to_iso(record.get("check_time")),
        ),
        lease_status="expired" if record.get("lease") == "expired" else "alive",
        ttl_s=int(record.get("ttl_ms", "0")) / 1000,
        registered_at=ms_to_iso(record.get("registered_at")),
        last_heartbeat=ms_to_iso(record.get("last_heartbeat")),
        lease_expires_at=ms_to_iso(record.get("lease_expires_at")),
        critical_since=ms_to_iso(record.get("critical_since")),
        capabilities_status=record.get("caps_status", "pending"),
        capabilities_error=record.get("caps_error") or None,
        capabilities_count=int(record.get("caps_count") or 0),
        owner=record.get("owner") or None,
        generation=int(record["generation"]) if record.get("generation") else None,
    )


def summarize(name: str, records: list[dict[str, str]]) -> ServiceSummary:
    """Counts by status for one service's records."""
    counts = {"passing": 0, "warning": 0, "critical": 0}
    for record in records:
        counts[record.get("status", "passing")] = counts.get(record.get("status", ""), 0) + 1
    if counts["passing"] == len(records) and records:
        status = "passing"
    elif counts["passing"] + counts["warning"] > 0:
        status = "warning"
    else:
        status = "critical"
    tags = sorted({t for r in records for t in json.loads(r.get("tags", "[]"))})
    return ServiceSummary(
        name=name,
        instances=len(records),
        passing=counts["passing"],
        warning=counts["warning"],
        critical=counts["critical"],
        status=status,
        versions=sorted({r.get("version", "") for r in records}),
        tags=tags,
    )


def haystack(service: str, cap: dict[str, Any]) -> str:
    """The text `?q=` is matched against: the service name and the operation's words."""
    parts = [
        service,
        cap.get("operation_id") or "",
        cap.get("summary") or "",
        cap.get("description") or "",
        cap.get("path") or "",
        cap.get("intent") or "",
        " ".join(cap.get("tags", [])),
    ]
    return " ".join(parts).lower()
