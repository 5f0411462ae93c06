"""The registry's logic: leases, probes, capabilities, self-preservation and events.

`DiscoveryService` wires the parts: `Instances` (register, renew, deregister), `Catalog`
(queries), `Watch` (the change feed), `Prober` (health and OpenAPI capabilities), `Reaper`
(expiry and self-preservation) and `OwnLease` (discovery's own record). Every part calls
the repositories, never Redis itself.
"""

from eco_discovery.service._catalog import Catalog
from eco_discovery.service._discovery import DiscoveryService
from eco_discovery.service._events import MAX_OUTPUT, Announcer
from eco_discovery.service._instances import Instances
from eco_discovery.service._leases import OwnLease, Reaper
from eco_discovery.service._probing import FIRST_PROBE_DELAY_S, OpenAPIFetchError, Prober
from eco_discovery.service._views import summarize, to_public
from eco_discovery.service._watch import Change, Watch

__all__ = [
    "FIRST_PROBE_DELAY_S",
    "MAX_OUTPUT",
    "Announcer",
    "Catalog",
    "Change",
    "DiscoveryService",
    "Instances",
    "OpenAPIFetchError",
    "OwnLease",
    "Prober",
    "Reaper",
    "Watch",
    "summarize",
    "to_public",
]
