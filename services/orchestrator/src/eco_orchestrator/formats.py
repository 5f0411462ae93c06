"""Render a run's result (markdown plus structured data) in the requested format."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import markdown as md_lib
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

from eco_shared.adapters.orchestrator import Format

FORMATS: tuple[str, ...] = get_args(Format)

EXTENSIONS = {
    "markdown": "md",
    "json": "json",
    "html": "html",
    "txt": "txt",
    "csv": "csv",
    "pdf": "pdf",
}
# formats the doc store assembles at download time from a document stored in another one
BUNDLES = {"zip": "markdown"}


def stored_format(fmt: str) -> str:
    """The format a run stores its document in: a bundle's base format, else `fmt` itself."""
    return BUNDLES.get(fmt, fmt)


def download_url(url: str, fmt: str) -> str:
    """The doc store's download URL of a document, asking for the bundle when `fmt` is one."""
    if fmt not in BUNDLES:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "format"] + [("format", fmt)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class Rendered:
    """Content ready for the doc store."""

    format: str
    content: str
    content_encoding: str
    sha256: str
    size: int


def _done(fmt: str, data: bytes, binary: bool = False) -> Rendered:
    content = base64.b64encode(data).decode() if binary else data.decode()
    return Rendered(
        fmt, content, "base64" if binary else "utf-8", hashlib.sha256(data).hexdigest(), len(data)
    )


def render(fmt: str, title: str, markdown: str, data: dict[str, Any] | None = None) -> Rendered:
    """The document in `fmt` (markdown, json, html, txt, csv, pdf; a bundle as its base)."""
    fmt = stored_format(fmt)
    if fmt == "markdown":
        return _done(fmt, markdown.encode())
    if fmt == "json":
        body = {"title": title, "data": data or {}, "markdown": markdown}
        return _done(fmt, json.dumps(body, indent=2, default=str).encode())
    if fmt == "html":
        return _done(fmt, to_html(title, markdown).encode())
    if fmt == "txt":
        return _done(fmt, to_text(markdown).encode())
    if fmt == "csv":
        return _done(fmt, to_csv(markdown, data).encode())
    if fmt == "pdf":
        return _done(fmt, to_pdf(title, markdown), binary=True)
    raise ValueError(f"unknown format {fmt!r}")


def to_html(title: str, markdown: str) -> str:
    """A standalone HTML page."""
    body = md_lib.markdown(markdown, extensions=["tables", "fenced_code"])
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{safe_title}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def to_text(markdown: str) -> str:
    """Plain text: markdown markers removed, structure kept by line."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("```"):
            continue
        line = re.sub(r"^#{1,6}\s*", "", line)
        line = _LINK.sub(r"\1", line)
        line = line.replace("**", "").replace("`", "")
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


def to_csv(markdown: str, data: dict[str, Any] | None) -> str:
    """Rows of the result's table when it has one, else one row per section."""
    out = io.StringIO()
    rows = (data or {}).get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()}
            )
        return out.getvalue()
    plain = csv.writer(out)
    plain.writerow(["section", "text"])
    heading, buffer = "", []
    for line in markdown.splitlines():
        if line.startswith("#"):
            if buffer:
                plain.writerow([heading, "\n".join(buffer).strip()])
            heading, buffer = line.lstrip("#").strip(), []
        else:
            buffer.append(line)
    if buffer or heading:
        plain.writerow([heading, "\n".join(buffer).strip()])
    return out.getvalue()


def _latin1(text: str) -> str:
    # the PDF core fonts cover Latin-1; anything else becomes '?' rather than an error
    replacements = {
        "\u2014": "-",
        "\u2013": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2192": "->",
        "\u2016": "||",
        "\u2022": "*",
    }
    for src, dst in replacements.items():
        text = text.replace(src, dst)
    return text.encode("latin-1", "replace").decode("latin-1")


def to_pdf(title: str, markdown: str) -> bytes:
    """A PDF with the document's text (headings, paragraphs, code) through fpdf2."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_creator("eco orchestrator")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    in_code = False
    for raw in markdown.splitlines():
        line = _latin1(raw.rstrip())
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            pdf.set_font("Courier", size=8)
            pdf.multi_cell(
                0, 4, line or " ", wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)", line)
        if heading:
            level = len(heading.group(1))
            pdf.set_font("Helvetica", style="B", size=max(10, 20 - 3 * level))
            pdf.ln(2)
            pdf.multi_cell(
                0,
                8,
                heading.group(2).replace("`", ""),
                wrapmode=WrapMode.CHAR,
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )
            continue
        pdf.set_font("Helvetica", size=10)
        text = _LINK.sub(r"\1", line).replace("**", "").replace("`", "")
        if not text.strip():
            pdf.ln(3)
            continue
        pdf.multi_cell(0, 5, text, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
