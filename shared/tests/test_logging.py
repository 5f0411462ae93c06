import io
import json
import logging

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from eco_shared.auth import new_key
from eco_shared.logging import REDACTED, configure_logging, redact, redact_text
from eco_shared.testing.auth import token


@pytest.fixture
def json_logs():  # type: ignore[no-untyped-def]
    saved = structlog.get_config()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    configure_logging("test-svc", level="DEBUG", fmt="json", stream=stream)

    def read() -> list[dict[str, object]]:
        lines = stream.getvalue().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    yield read
    # Leave no DEBUG root logger behind: later tests' log sinks would receive every
    # library's debug records.
    structlog.configure(**saved)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_secret_fields_are_never_written(json_logs) -> None:  # type: ignore[no-untyped-def]
    log = structlog.get_logger("t")
    log.info(
        "calling_upstream",
        authorization="Bearer x-very-secret",
        password="y-hunter2",
        headers={"X-Api-Key": "k-123456", "accept": "json"},
        tokens_in=12,
    )
    records = json_logs()
    assert len(records) == 1
    text = json.dumps(records[0])
    assert "x-very-secret" not in text
    assert "hunter2" not in text
    assert "k-123456" not in text
    assert records[0]["authorization"] == REDACTED
    assert records[0]["password"] == REDACTED
    assert records[0]["headers"] == {"X-Api-Key": REDACTED, "accept": "json"}
    assert records[0]["tokens_in"] == 12  # accounting fields are not secrets


def test_secret_values_inside_free_text_are_redacted(json_logs) -> None:  # type: ignore[no-untyped-def]
    jwt = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    )
    structlog.get_logger().warning(
        "upstream said Authorization: Bearer abc.def.ghi",
        url="postgresql://eco:s3cretpw@db:5432/eco",
        note=f"token {jwt}",
        key="sk-abcdefghijklmnopqrstuvwxyz",
    )
    record = json_logs()[0]
    text = json.dumps(record)
    for secret in ("abc.def.ghi", "s3cretpw", jwt, "sk-abcdefghijklmnopqrstuvwxyz"):
        assert secret not in text
    assert record["url"] == f"postgresql://eco:{REDACTED}@db:5432/eco"


def test_records_carry_service_and_trace_ids(json_logs) -> None:  # type: ignore[no-untyped-def]
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        structlog.get_logger().info("inside_span")
        ctx = span.get_span_context()
    structlog.get_logger().info("outside_span")
    inside, outside = json_logs()
    assert inside["service"] == "test-svc"
    assert inside["trace_id"] == format(ctx.trace_id, "032x")
    assert inside["span_id"] == format(ctx.span_id, "016x")
    assert inside["level"] == "info"
    assert outside["trace_id"] is None
    assert trace.get_current_span().get_span_context().is_valid is False


def test_stdlib_records_share_the_format_and_redaction(json_logs) -> None:  # type: ignore[no-untyped-def]
    logging.getLogger("uvicorn.error").warning("client sent Bearer topsecret-token-value")
    record = json_logs()[0]
    assert record["service"] == "test-svc"
    assert "topsecret-token-value" not in record["event"]
    assert record["level"] == "warning"


def test_redact_walks_nested_structures() -> None:
    value = {"a": [{"client_secret": "s", "ok": "fine"}], "b": ("Basic dXNlcjpwYXNz",)}
    assert redact(value) == {
        "a": [{"client_secret": REDACTED, "ok": "fine"}],
        "b": (f"Basic {REDACTED}",),
    }


def test_api_keys_grants_and_tokens_are_redacted_keeping_their_ids(json_logs) -> None:  # type: ignore[no-untyped-def]
    key = new_key()
    grant = "ecogrant_" + "ab" * 12 + "_" + "S3cr3t-grant_value-0123456789abcdefghijklmno"
    jwt = token("doc-store")  # a real ES256 token, header and payload `eyJ...`
    structlog.get_logger().info(
        f"using {key.value}",
        detail=f"grant {grant}; bearer {jwt}",
        unsigned=jwt.rsplit(".", 1)[0],
        nested=[{"x-forwarded": f"Authorization: bearer {jwt}"}],
    )
    record = json_logs()[0]
    text = json.dumps(record, ensure_ascii=False)
    for secret in (key.value, key.value[-38:], grant[-44:], jwt, jwt.split(".")[1]):
        assert secret not in text
    assert record["event"] == f"using eco_{key.key_id}_…"
    assert record["detail"] == f"grant ecogrant_{'ab' * 12}_{REDACTED}; bearer {REDACTED}"
    assert record["unsigned"] == REDACTED
    # redacting what is already redacted changes nothing (the collector redacts again)
    assert redact(record) == record


def test_redact_text_leaves_ordinary_words_alone() -> None:
    text = "token expired for user:ann; 12 tokens_in; the economy_report ran"
    assert redact_text(text) == text


def test_log_redaction_knows_api_keys_exactly_as_the_auth_package_does() -> None:
    from eco_shared import logging as eco_logging
    from eco_shared.auth import KEY_PATTERN, redact_keys

    assert eco_logging._API_KEY.pattern == KEY_PATTERN.pattern
    key = new_key()
    text = f"a {key.value}, eco_short_key and {key.value}x"
    assert redact_text(text) == redact_keys(text)


DEFERRED_PROBE = """
import io, logging, sys
from eco_shared.logging import configure_logging, get_logger
stream = io.StringIO()
configure_logging("probe-svc", level="WARNING", stream=stream, defer=True)
log = get_logger("eco.probe")
log.info("below_the_level")
logging.getLogger("some.library").info("below the level too")
assert "structlog" not in sys.modules, "structlog loaded for records that are dropped"
logging.getLogger("some.library").warning("sent with %s", "Bearer abcdefgh12345")
assert "structlog" in sys.modules
log.error("above_the_level", password="hunter2")
sys.stdout.write(stream.getvalue())
"""


def test_deferred_logging_loads_structlog_for_the_first_record_it_writes() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", DEFERRED_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["event"], first["level"]) == (f"sent with Bearer {REDACTED}", "warning")
    assert (second["event"], second["level"]) == ("above_the_level", "error")
    assert second["password"] == REDACTED
    assert {first["service"], second["service"]} == {"probe-svc"}
    assert second["logger"] == "eco.probe"
