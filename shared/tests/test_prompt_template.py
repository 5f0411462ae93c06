"""The prompt templating rules: three syntaxes, errors naming variables, a real sandbox."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from eco_shared.prompts.template import (
    MAX_OUTPUT_CHARS,
    MAX_TEMPLATE_BYTES,
    TemplateError,
    lint,
    render,
    variables_in,
)

ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATOR_PROMPTS = ROOT / "services/orchestrator/src/eco_orchestrator/prompts"


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["code"], e.get("variable")) for e in errors]


def render_error(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(TemplateError) as caught:
        render(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    return caught.value.errors


# --- mustache --------------------------------------------------------------------------


def test_mustache_substitutes_declared_variables_and_nothing_else() -> None:
    text = "Hello {{ name }}, {{count}} new <b>{{ html }}</b>"
    assert variables_in(text) == {"name", "count", "html"}
    out = render(text, "mustache", {"name": "Ada", "count": 3, "html": "<i>&</i>"})
    assert out == "Hello Ada, 3 new <b><i>&</i></b>"  # no HTML escaping


@pytest.mark.parametrize("tag", ["{{#items}}", "{{> partial}}", "{{ a.b }}", "{{{raw}}}"])
def test_mustache_sections_partials_and_dotted_names_are_syntax_errors(tag: str) -> None:
    problems = lint(f"line one\n{tag}", "mustache", {})
    assert [(p["code"], p["line"]) for p in problems] == [("syntax_error", 2)]
    assert render_error(f"x {tag}", "mustache", {})[0]["code"] == "syntax_error"


def test_missing_and_unknown_variables_are_each_named() -> None:
    errors = render_error("{{ a }} {{ b }}", "mustache", {"a": "1", "zzz": 2})
    assert codes(errors) == [("unknown_variable", "zzz"), ("missing_variable", "b")]


def test_declared_defaults_types_and_required() -> None:
    declared = {
        "topic": {"type": "string"},
        "n": {"type": "integer", "default": 5},
        "flag": {"type": "boolean", "required": False},
    }
    text = "{{ topic }}/{{ n }}/{{ flag }}"
    assert render(text, "mustache", {"topic": "t"}, declared) == "t/5/"
    assert render(text, "mustache", {"topic": "t", "flag": True}, declared) == "t/5/true"
    errors = render_error(text, "mustache", {"n": "five", "other": 1}, declared)
    assert codes(errors) == [
        ("unknown_variable", "other"),
        ("missing_variable", "topic"),
        ("type_mismatch", "n"),
    ]
    assert codes(render_error(text, "mustache", {"topic": "t", "n": True}, declared)) == [
        ("type_mismatch", "n")
    ]


# --- fstring ---------------------------------------------------------------------------


def test_fstring_renders_placeholders_and_brace_escapes() -> None:
    text = "{title}: {{literal}} {n}"
    assert variables_in(text, "fstring") == {"title", "n"}
    assert render(text, "fstring", {"title": "T", "n": 2}) == "T: {literal} 2"
    assert render(text, "fstring", {"title": "T", "n": 2}) == text.format(title="T", n=2)


@pytest.mark.parametrize("text", ["{0.__class__}", "{a.b}", "{a[0]}", "{a!r}", "{a:>9}", "{}"])
def test_fstring_never_evaluates_attribute_index_or_format_specs(text: str) -> None:
    errors = render_error(text, "fstring", {"a": "x"})
    assert errors[0]["code"] == "syntax_error"
    # a value that looks like a placeholder is inserted as text, never expanded
    assert render("{a}", "fstring", {"a": "{0.__class__}"}) == "{0.__class__}"


def test_fstring_single_braces_are_syntax_errors_with_the_line() -> None:
    assert [(p["code"], p["line"]) for p in lint("ok\n\n{ oops", "fstring")] == [
        ("syntax_error", 3)
    ]
    assert lint("}", "fstring")[0]["code"] == "syntax_error"


def test_the_orchestrators_shipped_template_renders_as_str_format_did() -> None:
    text = (ORCHESTRATOR_PROMPTS / "api_reference.v1.md").read_text()
    values = {
        "title": "doc-store API reference",
        "overview": "Stores {documents} with 100% provenance.\n\nRelated: a {b} c",
        "service": "doc-store",
        "version": "1.2.3",
        "instances": "`i-1` (passing), `i-2` (critical)",
        "operation_count": 12,
        "tag_count": 3,
        "spec_sha256": "ab" * 32,
        "toc": "- [documents](#documents)\n- [health](#health)",
        "sections": "## documents\n\n### GET /documents/{document_id}\n",
        "schemas": "None.",
    }
    assert variables_in(text, "fstring") == set(values)
    assert render(text, "fstring", values) == text.format(**values)
    compact = (ORCHESTRATOR_PROMPTS / "api_reference_compact.v1.md").read_text()
    names = variables_in(compact, "fstring")
    sample = {n: f"<{n} {{x}}>" for n in names}
    assert render(compact, "fstring", sample) == compact.format(**sample)


# --- jinja2 ----------------------------------------------------------------------------


def test_jinja2_conditionals_loops_and_strict_undefined() -> None:
    text = "{% if items %}{% for i in items %}- {{ i }}\n{% endfor %}{% else %}none{% endif %}"
    assert variables_in(text, "jinja2") == {"items"}
    assert render(text, "jinja2", {"items": ["a", "b"]}) == "- a\n- b\n"
    assert render(text, "jinja2", {"items": []}) == "none"
    assert codes(render_error(text, "jinja2", {})) == [("missing_variable", "items")]
    optional = {"who": {"type": "string", "required": False}}
    errors = render_error("hi {{ who }}", "jinja2", {}, optional)
    assert errors[0]["code"] == "render_error"
    assert "who" in errors[0]["message"]


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ x.__init__.__globals__ }}",
        "{{ x|attr('__class__') }}",
        "{{ x['__class__'] }}",
        "{% set l = [] %}{{ l.append(1) }}",
        "{{ cycler }}{{ lipsum(5) }}",
    ],
)
def test_jinja2_sandbox_refuses_attribute_tricks(text: str) -> None:
    errors = render_error(text, "jinja2", {"x": "s"} if "x" in text else {})
    assert errors[0]["code"] in {"sandbox_violation", "render_error", "missing_variable"}
    assert "<class" not in json.dumps(errors)


def test_jinja2_syntax_error_names_the_line() -> None:
    [problem] = lint("a\nb\n{% if x %}no end", "jinja2", {"x": {"type": "boolean"}})
    assert problem["code"] == "syntax_error"
    assert problem["line"] == 3
    assert render_error("{{ x", "jinja2", {"x": 1})[0]["code"] == "syntax_error"


def test_jinja2_output_and_time_limits() -> None:
    big = "{{ 'x' * n }}"
    errors = render_error(big, "jinja2", {"n": MAX_OUTPUT_CHARS + 1})
    assert errors[0]["code"] == "sandbox_violation"
    loop = "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}"
    assert render_error(loop, "jinja2", {})[0]["code"] == "output_too_large"
    assert render_error("{{ 'z'|center(10**9) }}", "jinja2", {})[0]["code"] in {
        "sandbox_violation",
        "render_error",
    }
    assert render_error("{{ 10 ** 1000000000 }}", "jinja2", {})[0]["code"] == "sandbox_violation"
    spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    assert render_error(spin, "jinja2", {})[0]["code"] == "render_timeout"
    assert time.monotonic() - started < 60  # stopped, not run to the end (hours)


# --- lint and size ---------------------------------------------------------------------


def test_lint_reports_undeclared_unused_and_size() -> None:
    declared = {"used": {"type": "string"}, "spare": {"type": "string"}}
    problems = lint("{{ used }} {{ extra }}", "mustache", declared)
    assert codes(problems) == [("undeclared_variable", "extra"), ("unused_variable", "spare")]
    assert lint("{{ used }}", "mustache", {"used": {"type": "string"}}) == []
    big = "x" * (MAX_TEMPLATE_BYTES + 1)
    assert codes(lint(big, "mustache", {})) == [("too_large", None)]
    assert render_error(big, "mustache", {})[0]["code"] == "too_large"
    bad = lint("{{ a }}", "mustache", {"a": {"type": "date"}, "9x": {}})
    assert ("invalid_declaration", "a") in codes(bad)
    assert ("invalid_declaration", "9x") in codes(bad)


# --- chat ------------------------------------------------------------------------------


def test_chat_templates_render_each_content_and_answer_json() -> None:
    text = json.dumps(
        [
            {"role": "system", "content": "You write about {{ topic }}."},
            {"role": "user", "content": "{{ question }}"},
        ]
    )
    assert variables_in(text, kind="chat") == {"topic", "question"}
    out = json.loads(render(text, "mustache", {"topic": "APIs", "question": "Why?"}, kind="chat"))
    assert out == [
        {"role": "system", "content": "You write about APIs."},
        {"role": "user", "content": "Why?"},
    ]
    assert lint("not json", kind="chat")[0]["code"] == "invalid_chat"
    assert lint('[{"role": "wizard", "content": "x"}]', kind="chat")[0]["code"] == "invalid_chat"
    assert codes(render_error(text, "mustache", {"topic": "x"}, kind="chat")) == [
        ("missing_variable", "question")
    ]
