"""Every output format, including a PDF that opens and holds the text."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import zlib

import pytest

from eco_orchestrator.formats import FORMATS, download_url, render, stored_format

MARKDOWN = """# Retry policy

Idempotent calls are retried with backoff and jitter.

## Details

- The breaker opens after five failures.

```json
{"retries": 3}
```
"""


def _pdf_text(data: bytes) -> str:
    """The text shown by a PDF's content streams (fpdf2 core fonts, Flate-compressed)."""
    shown = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = match.group(1)
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        shown += [m.decode("latin-1") for m in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", raw)]
    return " ".join(shown)


def test_pdf_opens_and_contains_the_text() -> None:
    out = render("pdf", "Retry policy", MARKDOWN)
    data = base64.b64decode(out.content)
    assert out.content_encoding == "base64"
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    text = _pdf_text(data)
    for phrase in ("Retry policy", "Idempotent calls are retried", "five failures", "retries"):
        assert phrase in text, (phrase, text)


def test_html_json_txt_csv() -> None:
    html = render("html", "Retry <policy>", MARKDOWN).content
    assert "<h1>Retry policy</h1>" in html
    assert "<title>Retry &lt;policy>" in html
    assert "<li>The breaker opens after five failures.</li>" in html
    body = json.loads(render("json", "T", MARKDOWN, {"rows": [{"a": 1}]}).content)
    assert body == {"title": "T", "data": {"rows": [{"a": 1}]}, "markdown": MARKDOWN}
    text = render("txt", "T", MARKDOWN).content
    assert "# " not in text
    assert "```" not in text
    assert "Retry policy" in text
    rows = list(
        csv.DictReader(
            io.StringIO(
                render("csv", "T", MARKDOWN, {"rows": [{"service": "ä-svc", "errors": 2}]}).content
            )
        )
    )
    assert rows == [{"service": "ä-svc", "errors": "2"}]
    sections = list(csv.reader(io.StringIO(render("csv", "T", MARKDOWN).content)))
    assert [r[0] for r in sections] == ["section", "Retry policy", "Details"]
    assert render("markdown", "T", MARKDOWN).content == MARKDOWN


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render("docx", "T", MARKDOWN)


def test_zip_is_stored_as_markdown_and_downloaded_as_the_bundle() -> None:
    out = render("zip", "T", MARKDOWN)
    assert (out.format, out.content) == ("markdown", MARKDOWN)
    assert stored_format("zip") == "markdown"
    assert stored_format("pdf") == "pdf"
    base = "http://127.0.0.1:5087/documents/abc/download"
    assert download_url(base, "zip") == base + "?format=zip"
    # the doc store names the version; the bundle is asked of that same version
    assert download_url(base + "?version=2", "zip") == base + "?version=2&format=zip"
    assert download_url(base + "?format=original", "zip") == base + "?format=zip"
    assert download_url(base, "markdown") == base
    assert "zip" in FORMATS
