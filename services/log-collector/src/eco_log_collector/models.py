"""Tables (SQLModel) and the public models of the API (shared with the adapter)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from eco_shared.adapters.log_collector import (
    AuditEventOut,
    AuditPage,
    AuditVerification,
    Dependencies,
    DependencyEdge,
    EventOut,
    EventPage,
    IngestErrorOut,
    IngestErrorPage,
    LogPage,
    LogRecordOut,
    OperationStats,
    OperationStatsList,
    SpanOut,
    SpanRef,
    Stats,
    StreamLag,
    TimelineItem,
    TraceDetail,
    TraceList,
    TraceSummary,
)

__all__ = [
    "AuditEventOut",
    "AuditPage",
    "AuditRecord",
    "AuditVerification",
    "BusEvent",
    "Dependencies",
    "DependencyEdge",
    "EventOut",
    "EventPage",
    "IngestError",
    "IngestErrorOut",
    "IngestErrorPage",
    "LogPage",
    "LogRecord",
    "LogRecordOut",
    "OperationStats",
    "OperationStatsList",
    "Span",
    "SpanOut",
    "SpanRef",
    "Stats",
    "StreamLag",
    "TimelineItem",
    "TraceDetail",
    "TraceList",
    "TraceSummary",
]

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Column[int]:
    return Column(BigId, primary_key=True, autoincrement=True)


class LogRecord(SQLModel, table=True):
    """One structlog record from `eco.logs`; times are microseconds since the epoch."""

    __tablename__ = "log_records"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_log_records_event_id"),
        Index("ix_log_records_time", "time_us", "id"),
        Index("ix_log_records_service_time", "service", "time_us"),
        Index("ix_log_records_trace", "trace_id"),
    )

    id: int | None = Field(default=None, sa_column=_pk())
    event_id: str = Field(sa_column=Column(String(64), nullable=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    service: str = Field(sa_column=Column(String(200), nullable=False))
    level: str = Field(sa_column=Column(String(16), nullable=False))
    level_no: int = Field(sa_column=Column(SmallInteger, nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    logger: str | None = Field(default=None, sa_column=Column(String(200)))
    trace_id: str | None = Field(default=None, sa_column=Column(String(32)))
    span_id: str | None = Field(default=None, sa_column=Column(String(16)))
    request_id: str | None = Field(default=None, sa_column=Column(String(100)))
    attributes: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    received_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class BusEvent(SQLModel, table=True):
    """One CloudEvents envelope from `eco.events`."""

    __tablename__ = "bus_events"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_bus_events_event_id"),
        Index("ix_bus_events_time", "time_us", "id"),
        Index("ix_bus_events_type_time", "type", "time_us"),
        Index("ix_bus_events_trace", "trace_id"),
    )

    id: int | None = Field(default=None, sa_column=_pk())
    event_id: str = Field(sa_column=Column(String(200), nullable=False))
    type: str = Field(sa_column=Column(String(200), nullable=False))
    source: str = Field(sa_column=Column(String(200), nullable=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    trace_id: str | None = Field(default=None, sa_column=Column(String(32)))
    span_id: str | None = Field(default=None, sa_column=Column(String(16)))
    entry_id: str | None = Field(default=None, sa_column=Column(String(64)))
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    received_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class Span(SQLModel, table=True):
    """One OpenTelemetry span received over OTLP; times in nanoseconds since the epoch."""

    __tablename__ = "spans"
    __table_args__ = (
        UniqueConstraint("trace_id", "span_id", name="uq_spans_trace_span"),
        Index("ix_spans_start", "start_ns"),
        Index("ix_spans_service_start", "service", "start_ns"),
        Index("ix_spans_span_id", "span_id"),
    )

    id: int | None = Field(default=None, sa_column=_pk())
    trace_id: str = Field(sa_column=Column(String(32), nullable=False))
    span_id: str = Field(sa_column=Column(String(16), nullable=False))
    parent_span_id: str | None = Field(default=None, sa_column=Column(String(16)))
    service: str = Field(sa_column=Column(String(200), nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    start_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    duration_ms: float = Field(sa_column=Column(Float, nullable=False))
    status_code: str = Field(sa_column=Column(String(8), nullable=False))
    status_message: str | None = Field(default=None, sa_column=Column(Text))
    attributes: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    events: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    received_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class IngestError(SQLModel, table=True):
    """A stream entry that decoded as an envelope but not as a valid record."""

    __tablename__ = "ingest_errors"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_ingest_errors_event_id"),
        Index("ix_ingest_errors_time", "time_us", "id"),
    )

    id: int | None = Field(default=None, sa_column=_pk())
    event_id: str = Field(sa_column=Column(String(200), nullable=False))
    stream: str = Field(sa_column=Column(String(64), nullable=False))
    entry_id: str | None = Field(default=None, sa_column=Column(String(64)))
    source: str | None = Field(default=None, sa_column=Column(String(200)))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raw: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditRecord(SQLModel, table=True):
    """One event of `eco.audit`, a link of the hash chain: appended, never changed.

    `hash` is SHA-256 over `prev_hash` and the canonical JSON of the other columns (`data`
    as the object it holds); the database refuses UPDATE and DELETE (triggers).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_audit_events_event_id"),
        Index("ix_audit_events_type_seq", "type", "seq"),
        Index("ix_audit_events_subject_seq", "subject", "seq"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_time", "time_us"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    event_id: str = Field(sa_column=Column(String(200), nullable=False))
    time_us: int = Field(sa_column=Column(BigInteger, nullable=False))
    type: str = Field(sa_column=Column(String(200), nullable=False))
    source: str = Field(sa_column=Column(String(200), nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(String(300)))
    actor: str | None = Field(default=None, sa_column=Column(String(300)))
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))
