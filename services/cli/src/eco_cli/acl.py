"""Redis ACLs: one Redis user per service, the default user off (DESIGN.md "Identity and
access", "Bus").

`eco up` (and `eco auth init`, for compose) writes `.eco/auth/redis.acl` from this table and
gives every service its own `ECO_REDIS_URL`, with its user and a password derived from the
master secret (`HMAC-SHA256(master, "redis:<user>")`; the file holds only its SHA-256). Each
service reaches only the keys and channels below, all under `ECO_REDIS_PREFIX` (P):

    user           keys (and channels, &)                  for
    every service  <name>:* (its own namespace)            whatever it keeps (the gateway's cache,
                                                           buckets and usage; discovery's registry)
                   eco.events eco.logs eco.logs.dropped    events (and the outbox relay), log
                   eco.audit &eco.auth.revocations         shipping, refused requests, revoked keys
    discovery      auth:*                                  the issuer's API keys and run grants
                                                           (`/watch` reads eco.events)
    log-collector  eco.dlq eco.bus.failures:eco.logs:*     its consumer groups on eco.logs,
                   (and :eco.events:*, :eco.audit:*)       eco.events and eco.audit, and the
                   eco.audit.head                          audit chain's head
    orchestrator   eco.runs eco.orchestrator.* eco.dlq     the run queue (nobody else reads or
                   eco.bus.failures:eco.runs:*             writes it), run events, cancellations
                   &eco.orchestrator.cancel
    doc-store      nothing more                            its outbox relay publishes on eco.events
    prompt-store   eco.dlq eco.bus.failures:eco.events:*   its consumer group on eco.events (run
                                                           outcomes and feedback); its outbox relay
                                                           publishes label moves on eco.events
    eco            every key and channel, every command    `eco up` and an operator
    healthcheck    none; PING only, no password            compose's health check

Services may run every command but the `@dangerous` ones (KEYS, INFO, CONFIG, CLIENT,
FLUSHDB, DEBUG, MONITOR, ...). Redis 6.2 key patterns do not tell reading from writing: a
service that may append to `eco.audit` could also read or trim it; the audit trail's
integrity rests on the log collector's hash chain, not on Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ADMIN_USER = "eco"
HEALTHCHECK_USER = "healthcheck"
AUDIT = "eco.audit"
FAILURES = "eco.bus.failures:"  # eco_shared.bus.FAILURES_KEY: <stream>:<group> follows
DLQ = "eco.dlq"


@dataclass(frozen=True)
class Access:
    """Key patterns and channels one Redis user may use (before the prefix)."""

    keys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def __add__(self, other: Access) -> Access:
        return Access(self.keys + other.keys, self.channels + other.channels)


COMMON = Access(
    keys=("eco.events", "eco.logs", "eco.logs.dropped", AUDIT),
    channels=("eco.auth.revocations",),
)
# beyond COMMON and the service's own namespace, `<name>:*`
SERVICE_ACCESS: dict[str, Access] = {
    "discovery": Access(keys=("auth:*",)),
    "log-collector": Access(
        keys=(
            DLQ,
            f"{AUDIT}.head",
            *(f"{FAILURES}{stream}:*" for stream in ("eco.logs", "eco.events", AUDIT)),
        )
    ),
    "orchestrator": Access(
        keys=("eco.runs", "eco.orchestrator.*", DLQ, f"{FAILURES}eco.runs:*"),
        channels=("eco.orchestrator.cancel",),
    ),
    "prompt-store": Access(keys=(DLQ, f"{FAILURES}eco.events:*")),
}


def access_for(service: str) -> Access:
    """What one service's user may reach: the common part, its namespace, and its own."""
    return COMMON + Access(keys=(f"{service}:*",)) + SERVICE_ACCESS.get(service, Access())


def password(master: bytes, user: str) -> str:
    """A Redis user's password, derived from the master secret."""
    return hmac.new(master, f"redis:{user}".encode(), hashlib.sha256).hexdigest()


def _glob_escape(prefix: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix)


def user_line(user: str, secret: str, access: Access, prefix: str) -> str:
    """One `user ...` line of an ACL file."""
    escaped = _glob_escape(prefix)
    # `reset` leaves every channel allowed on Redis 6.2 (acl-pubsub-default): resetchannels
    rules = ["reset", "resetchannels", "on", "#" + hashlib.sha256(secret.encode()).hexdigest()]
    rules += [f"~{escaped}{pattern}" for pattern in access.keys]
    rules += [f"&{escaped}{pattern}" for pattern in access.channels]
    rules += ["+@all", "-@dangerous"]
    return f"user {user} " + " ".join(rules)


def acl_text(master: bytes, services: Iterable[str], prefix: str = "") -> str:
    """The whole ACL file for these services."""
    # (an ACL file has no comments: Redis refuses any line that is not a `user` line)
    lines = [
        "user default reset resetchannels off",
        f"user {ADMIN_USER} reset on #"
        + hashlib.sha256(password(master, ADMIN_USER).encode()).hexdigest()
        + " ~* &* +@all",
        f"user {HEALTHCHECK_USER} reset resetchannels on nopass -@all +ping",
    ]
    for name in sorted(set(services)):
        if name in (ADMIN_USER, HEALTHCHECK_USER, "default"):
            raise ValueError(f"a service cannot be named {name!r}: it is a Redis user of eco")
        lines.append(user_line(name, password(master, name), access_for(name), prefix))
    return "\n".join(lines) + "\n"


def write_acl(path: Path, master: bytes, services: Iterable[str], prefix: str = "") -> Path:
    """Write the ACL file atomically, readable by its owner only (0600)."""
    return write_private(path, acl_text(master, services, prefix))


def write_private(path: Path, text: str) -> Path:
    """Write a file atomically (mode 0600); concurrent writers each use their own temp file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)  # mkstemp made it 0600
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def with_credentials(url: str, user: str, secret: str) -> str:
    """`url` with this user and password in it (any credentials it had are replaced)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(secret, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
