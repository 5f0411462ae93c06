"""structlog set-up: JSON in production, readable in a terminal, secrets always redacted.

Every record carries `service`, `trace_id` and `span_id` (from the current OpenTelemetry
span). Standard-library records (uvicorn, httpx) go through the same processors, so one
process writes one format. Redaction runs before a record is rendered or handed to a sink
(`eco.logs`): fields named like secrets, `Authorization` values, JWTs (`eyJ...`), run
grants (`ecogrant_<id>_[REDACTED]`) and our API keys (`eco_<id>_…`) never leave it.

structlog (with `structlog.dev`, which loads rich) and the OpenTelemetry SDK are imported
when they are first needed, not with this module: `get_logger()` hands out a logger that
imports structlog on its first call, and `configure_logging(..., defer=True)` (a short-lived
command, the `eco` CLI) sets the levels at once but imports and configures structlog only
when a record is emitted or such a logger is first used. A deferring process must log
through `get_logger()`: a module calling structlog itself before that would meet structlog's
default configuration (stdout).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

from eco_shared._context import request_id as current_request_id

if TYPE_CHECKING:
    from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

# Key words that mark a field as secret wherever they appear as a whole word in its name
# (`x-api-key`, `db_password`, `access_token`), but not `tokens_in` or `author`.
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:authorization|auth|password|passwd|pwd|secret|token|api_?key|apikey"
    r"|cookie|set_cookie|credentials?|private_?key|access_?key|session_?id|signature)(?:$|_)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(?P<scheme>\b(?:(?i:bearer)|Basic|Token)\s+)[A-Za-z0-9_.~+/=\-]{4,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    # a JWT (header.payload[.signature], each base64url JSON), signed or not
    r"|\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*)?"
    # a run grant, `ecogrant_<id>_<secret>`: the id stays (audit events name it too)
    r"|(?P<grant>\becogrant_(?:[0-9a-f]{24}_)?+)[A-Za-z0-9_.~+/=\-]+"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|(?P<userinfo>://[^/\s:@]+:)[^/\s@]+(?=@)",
    re.DOTALL,
)


# `eco_shared.auth.KEY_PATTERN`, spelled again: importing the auth package (FastAPI, JWT,
# httpx) would make every process that only logs start seconds slower; a test holds the two
# equal. A key is shortened to its id, `eco_<id>_…`, as `eco_shared.auth.redact_keys` does.
_API_KEY = re.compile(r"\beco_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b")
_KEY_ID_END = len("eco_") + 12


def _replace(match: re.Match[str]) -> str:
    prefix = match.group("scheme") or match.group("userinfo") or match.group("grant") or ""
    return prefix + REDACTED


def redact_text(text: str) -> str:
    """`text` with secret-looking values replaced (an API key keeps its id)."""
    text = _SECRET_VALUE.sub(_replace, text)
    return _API_KEY.sub(lambda m: m.group(0)[:_KEY_ID_END] + "_…", text)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True when a field name says its value is a secret (memoised: field names repeat, and
    every log record of every service asks this of each of its fields)."""
    return bool(_SECRET_KEY.search(re.sub(r"[\s\-.]", "_", key)))


def redact(value: Any, _depth: int = 0) -> Any:
    """Return `value` with secret fields and secret-looking strings replaced, recursively."""
    if _depth > 8:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, _depth + 1) for v in value)
    return value


def redact_secrets(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: remove secrets from every field of a record."""
    for key in list(event_dict):
        if key == "event" or not is_secret_key(key):
            event_dict[key] = redact(event_dict[key])
        else:
            event_dict[key] = REDACTED
    return event_dict


def _add_service(service: str) -> Processor:
    def processor(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def add_request_id(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add the `X-Request-ID` of the request being served."""
    request_id = current_request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def add_trace_ids(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add `trace_id` and `span_id` of the current span."""
    from eco_shared.telemetry import current_trace_ids  # the OTel SDK: once a record is made

    trace_id, span_id = current_trace_ids()
    event_dict.setdefault("trace_id", trace_id)
    event_dict.setdefault("span_id", span_id)
    return event_dict


_sinks: list[Callable[[MutableMapping[str, Any]], None]] = []


def add_log_sink(sink: Callable[[MutableMapping[str, Any]], None]) -> None:
    """Also hand every finished record (already redacted) to `sink`; it must not block."""
    _sinks.append(sink)


def remove_log_sink(sink: Callable[[MutableMapping[str, Any]], None]) -> None:
    """Stop handing records to `sink`."""
    if sink in _sinks:
        _sinks.remove(sink)


def _to_sinks(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    for sink in _sinks:
        try:
            sink(dict(event_dict))
        except Exception:  # a sink must never break logging
            pass
    return event_dict


def configure_logging(
    service: str,
    *,
    level: str = "INFO",
    fmt: str = "auto",
    stream: TextIO | None = None,
    defer: bool = False,
) -> None:
    """Configure structlog and the standard library for this process (output: stdout).

    `defer=True` imports and configures structlog only when the first record is emitted
    or a `get_logger()` logger is first used (at once if structlog is already loaded)."""
    global _pending
    stream = stream or sys.stdout
    configure = functools.partial(_configure_structlog, service, fmt, stream)
    if defer and "structlog" not in sys.modules:
        _pending = _DeferredHandler(configure)
        _install_handler(_pending)
    else:
        _pending = None
        _install_handler(configure())
    root = logging.getLogger()
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    # `uvicorn --no-access-log` leaves the access logger without handlers and not
    # propagating; keep it off then, otherwise route it through our handler like the rest.
    names = ["uvicorn", "uvicorn.error"]
    if access.handlers or access.propagate:
        names.append("uvicorn.access")
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _configure_structlog(service: str, fmt: str, stream: TextIO) -> logging.Handler:
    """Configure structlog; the standard-library handler that renders through it."""
    import structlog

    tty = stream.isatty()
    use_json = fmt == "json" or (fmt == "auto" and not tty)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_service(service),
        add_trace_ids,
        add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
        _to_sinks,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=tty, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    return handler


def _install_handler(handler: logging.Handler) -> None:
    """Make `handler` the root logger's one handler of ours (replacing an earlier one)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_eco", False):
            root.removeHandler(existing)
    handler._eco = True  # type: ignore[attr-defined]
    root.addHandler(handler)


class _DeferredHandler(logging.Handler):
    """`configure_logging(defer=True)`'s handler: configures structlog when the first
    record reaches it (or a `get_logger()` logger is first used), then hands every record
    to the handler that made."""

    def __init__(self, configure: Callable[[], logging.Handler]) -> None:
        super().__init__()
        self._configure = configure
        self._target: logging.Handler | None = None
        self._resolving = threading.Lock()

    @property
    def resolved(self) -> bool:
        """True once structlog is configured."""
        return self._target is not None

    def resolve(self) -> logging.Handler:
        """The real handler (structlog configured on the first call)."""
        with self._resolving:
            if self._target is None:
                self._target = self._configure()
            return self._target

    def emit(self, record: logging.LogRecord) -> None:
        self.resolve().handle(record)


# the deferred configuration of this process, if configure_logging(defer=True) made one
_pending: _DeferredHandler | None = None


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    """A record below the level: what `filter_by_level` would have made of it."""


class _Logger:
    """A structlog logger that imports structlog (and applies a deferred configuration)
    on its first call."""

    __slots__ = ("_logger", "_name")

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._logger is None:
            pending = _pending
            if pending is not None and not pending.resolved and attr in _LEVELS:
                # our configuration, not applied yet: its first processor drops a record
                # below the standard-library level, so skip structlog for it
                if not logging.getLogger(self._name).isEnabledFor(_LEVELS[attr]):
                    return _dropped
            if pending is not None:
                pending.resolve()
            import structlog

            self._logger = structlog.get_logger(self._name)
        return getattr(self._logger, attr)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (use snake_case event names: `log.info("document_stored", ...)`);
    structlog is imported when it is first used."""
    return _Logger(name)
