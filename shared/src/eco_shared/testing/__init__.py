"""Test harness: real Redis, real SQL databases and real service processes.

Loaded into every package's pytest run through the `pytest11` entry point
(`eco_shared.testing.plugin`), so a service's tests get the same fixtures as the
root `tests/` without copying a conftest.
"""

from eco_shared.testing.databases import postgres_schema
from eco_shared.testing.processes import ServiceProcess, wait_until

__all__ = ["ServiceProcess", "postgres_schema", "wait_until"]
