"""Every query of the log collector: SQL (`LogRepository`, `AuditRepository`) and Redis
(`StreamRepository`)."""

from eco_log_collector.repository._audit import (
    AUDIT,
    AuditQuery,
    AuditRepository,
    ChainBuilder,
    ChainTip,
)
from eco_log_collector.repository._spans import EdgeRow, OperationRow, SpanRepository
from eco_log_collector.repository._sql import LogRepository, TraceListing, TraceListRow, TraceRows
from eco_log_collector.repository._streams import UNDELIVERED_CAP, StreamRepository
from eco_log_collector.repository._tables import (
    ERRORS,
    EVENTS,
    LOGS,
    SPANS,
    TABLES,
    EventQuery,
    Kind,
    LogQuery,
    TraceQuery,
)

__all__ = [
    "AUDIT",
    "ERRORS",
    "EVENTS",
    "LOGS",
    "SPANS",
    "TABLES",
    "UNDELIVERED_CAP",
    "AuditQuery",
    "AuditRepository",
    "ChainBuilder",
    "ChainTip",
    "EdgeRow",
    "EventQuery",
    "Kind",
    "LogQuery",
    "LogRepository",
    "OperationRow",
    "SpanRepository",
    "StreamRepository",
    "TraceListRow",
    "TraceListing",
    "TraceQuery",
    "TraceRows",
]
