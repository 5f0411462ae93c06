"""A process that logs secrets through the real logging set-up and shipper (redaction test).

python log_collector_secret_publisher.py REDIS_URL PREFIX NAME  (secrets as JSON on stdin:
{"api_key": ..., "jwt": ..., "grant": ...}); the records go to stdout and to `eco.logs`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import redis.asyncio as aioredis
import structlog

from eco_shared.logging import configure_logging
from eco_shared.logship import LogShipper


async def main(url: str, prefix: str, name: str, secrets: dict[str, str]) -> int:
    configure_logging(name, fmt="json")
    client = aioredis.Redis.from_url(url)
    shipper = LogShipper(name, instance_id=name, prefix=prefix)
    shipper.start(client)
    key, jwt, grant = secrets["api_key"], secrets["jwt"], secrets["grant"]
    try:
        structlog.get_logger("secrets").info(
            f"calling the issuer with {key}",
            request_headers={"Authorization": f"Bearer {jwt}", "Accept": "application/json"},
            upstream_said=f"rejected Authorization: Bearer {jwt}",
            bare_token=jwt,
            grant_note=f"running under {grant}",
        )
        # a standard-library record (uvicorn, httpx) takes the same road
        logging.getLogger("stdlib").warning("exchanging %s for a token with %s", grant, key)
        flushed = await shipper.flush(30)
    finally:
        await shipper.stop()
        await client.aclose()
    return 0 if flushed and shipper.dropped == 0 else 1


if __name__ == "__main__":
    url, prefix, name = sys.argv[1:4]
    raise SystemExit(asyncio.run(main(url, prefix, name, json.loads(sys.stdin.read()))))
