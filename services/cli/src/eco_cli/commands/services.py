"""`eco services`: what discovery knows: services, instances, health, capabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eco_cli.commands._common import DEFAULT_DATA_DIR, DataDir, JsonFlag, console, emit_json, run

if TYPE_CHECKING:
    from eco_cli.client import Eco


def services(as_json: JsonFlag = False, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Registered services, their instances, health and capabilities."""

    async def body(eco: Eco) -> list[dict[str, Any]]:
        import asyncio

        listing = await eco.discovery.list_services()
        # the list has no URLs or capability counts: each service's instances, all at once
        details = await asyncio.gather(
            *(eco.discovery.get_service(summary.name) for summary in listing.services)
        )
        return [
            {
                **summary.model_dump(mode="json"),
                "capabilities": max((i.capabilities_count for i in detail.instances), default=0),
                "urls": [i.base_url for i in detail.instances],
            }
            for summary, detail in zip(listing.services, details, strict=True)
        ]

    rows = run(data_dir, body)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table  # only for a human: --json does without

    table = Table(title="services")
    for column in ("service", "instances", "health", "capabilities", "version", "urls"):
        table.add_column(column)
    for row in rows:
        colour = {"passing": "green", "warning": "yellow"}.get(row["status"], "red")
        table.add_row(
            row["name"],
            f"{row['passing']}/{row['instances']}",
            f"[{colour}]{row['status']}[/]",
            str(row["capabilities"]),
            ", ".join(row["versions"]),
            " ".join(row["urls"]),
        )
    console().print(table)
