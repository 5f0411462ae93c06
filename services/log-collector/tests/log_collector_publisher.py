"""A publisher process for the crash test: logs N records through the real shipper.

python log_collector_publisher.py REDIS_URL PREFIX NAME COUNT PAUSE_PER_100_S
"""

from __future__ import annotations

import asyncio
import io
import sys

import redis.asyncio as aioredis
import structlog

from eco_shared.logging import configure_logging
from eco_shared.logship import LogShipper


async def main(url: str, prefix: str, name: str, count: int, pause_s: float) -> int:
    configure_logging(name, fmt="json", stream=io.StringIO())
    client = aioredis.Redis.from_url(url)
    shipper = LogShipper(name, instance_id=name, prefix=prefix, max_queue=count + 100)
    shipper.start(client)
    log = structlog.get_logger("publisher")
    try:
        for seq in range(count):
            log.info("crash_test_record", publisher=name, seq=seq)
            if seq % 100 == 99:
                await asyncio.sleep(pause_s)
        flushed = await shipper.flush(60)
    finally:
        await shipper.stop()
        await client.aclose()
    return 0 if flushed and shipper.dropped == 0 else 1


if __name__ == "__main__":
    url, prefix, name, count, pause = sys.argv[1:6]
    raise SystemExit(asyncio.run(main(url, prefix, name, int(count), float(pause))))
