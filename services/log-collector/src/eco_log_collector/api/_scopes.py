"""What each router needs (DESIGN.md "Identity and access"): reading, ingesting, auditing."""

from __future__ import annotations

from typing import Any

from eco_shared.auth import require

# queries: logs, events, traces, stats, ingest errors, the live tail
LOGS_READ: Any = require("logs:read")
# ingestion: OTLP spans
LOGS_WRITE: Any = require("logs:write")
# the audit trail and its verification
AUDIT_READ: Any = require("audit:read")
