"""The registry in Redis: every read and every atomic state change (Lua scripts).

Layout (every key under `settings.key("discovery:")`):

- `inst:{id}`      hash: the instance record, its lease, last check and capability state
- `caps:{id}`      string: the instance's capabilities (JSON list)
- `spec:{id}`      string: the instance's OpenAPI document (JSON)
- `instances`      set of all instance ids; `names` set of service names;
  `name:{name}`    set of the ids of one service
- `leases`         sorted set id -> lease expiry (ms, Redis clock), live leases only
- `expired`        sorted set id -> when the lease lapsed (ms); the grace period runs from it
- `recent_lapses`  sorted set id -> lapse time, the self-preservation window
- `state`          hash: self-preservation flag and counters
- `lock:{name}`    the probe round's lock (SET NX PX)
- `generation`     the counter registrations take their generation from

Every transition (register, heartbeat, check result, lapse, eviction) is one script, so
whichever replica runs it sees the before and after atomically and only the replica that
made a change announces it: one lapse gives exactly one event however many reapers run.
Scripts take the Redis server's clock (`TIME`), so replicas with skewed clocks agree.

Each record also holds its `owner` (the subject whose token registered it: an id never
changes name or owner) and its `generation` (from the `generation` counter, new at every
registration; a heartbeat must name the current one).

`Registry` holds instances and leases, `CapabilityStore` what was read from their OpenAPI
documents, `EventFeed` reads the `eco.events` stream for the watch feed, `KeyStore` the
issuer's API keys and run grants (under `auth:`, beside discovery's keys).
"""

from eco_discovery.repository._capabilities import CapabilityStore
from eco_discovery.repository._keys import KeyStore
from eco_discovery.repository._registry import Registry
from eco_discovery.repository._types import (
    INSTANCE_FIELDS,
    HeartbeatResult,
    IdentityConflict,
    ReapResult,
    RegisterResult,
    RegistryFull,
    StaleGeneration,
    Transition,
    ms_to_iso,
)
from eco_shared.bus import EventFeed  # the stream reader watch feeds share

__all__ = [
    "INSTANCE_FIELDS",
    "CapabilityStore",
    "EventFeed",
    "HeartbeatResult",
    "IdentityConflict",
    "KeyStore",
    "ReapResult",
    "RegisterResult",
    "Registry",
    "RegistryFull",
    "StaleGeneration",
    "Transition",
    "ms_to_iso",
]
