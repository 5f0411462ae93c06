"""The templating rules of the prompt store: what a template may say and how it renders.

Three syntaxes, none of which runs the template's text as Python:

- `mustache` (the default): `{{ name }}` substitutes a declared variable; nothing else
  (no sections, partials or HTML escaping); any other `{{ ... }}` tag is a syntax error.
- `jinja2`: Jinja2's `ImmutableSandboxedEnvironment` with `StrictUndefined` and no
  autoescaping, for conditionals and loops; a template over `MAX_TEMPLATE_BYTES`, an
  output over `MAX_OUTPUT_CHARS` or a render over `RENDER_TIMEOUT_S` is refused.
- `fstring`: the legacy `{name}` placeholders with `{{`/`}}` escapes, substituted by a
  regular expression, never `str.format` (`{0.__class__}` and `{a.b}` are syntax errors).

Chat prompts (`kind="chat"`) are a JSON array of `{role, content}` messages; each content
is a template, and rendering answers the rendered array as JSON text. Every problem is a
dict `{code, message, variable?, line?}`; `render` raises them in a `TemplateError`.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["MAX_OUTPUT_CHARS", "MAX_TEMPLATE_BYTES", "RENDER_TIMEOUT_S", "CHAT_ROLES", "Kind"]
__all__ += ["Syntax", "TemplateError", "lint", "render", "variables_in"]

Syntax = Literal["mustache", "jinja2", "fstring"]
Kind = Literal["text", "chat"]
MAX_TEMPLATE_BYTES = 256 * 1024
MAX_OUTPUT_CHARS = 1_000_000
RENDER_TIMEOUT_S = 2.0
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MUSTACHE = re.compile(r"\{\{([^\n]*?)\}\}")
_FSTRING = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}|\{|\}")
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_TEMPLATE_FILE = "<template>"


class TemplateError(ValueError):
    """A template that cannot be used or rendered; `errors` names every problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors) or "template error")
        self.errors = errors


def _problem(
    code: str, message: str, *, variable: str | None = None, line: int | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {"code": code, "message": message}
    if variable is not None:
        problem["variable"] = variable
    if line is not None:
        problem["line"] = line
    return problem


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class _Timeout(Exception):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    """The Jinja2 sandbox, with `*` and `**` held to the output limit (no folding either)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numbers = all(isinstance(v, int | float) for v in (left, right))
        if operator == "**" and (not numbers or abs(right) > 64 or abs(left) > 2**64):
            raise SecurityError("'**' is limited to small operands in templates")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if len(seq) * count > MAX_OUTPUT_CHARS:
                        raise SecurityError("a repetition over the output limit")
        return super().call_binop(context, operator, left, right)


def _bounded(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose integer arguments (widths, counts) stay within the output limit."""

    @functools.wraps(filter_)
    def run(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                if abs(value) > MAX_OUTPUT_CHARS:
                    raise SecurityError("a filter argument over the output limit")
        return filter_(*args, **kwargs)

    return run


def _environment() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = {name: _bounded(f) for name, f in env.filters.items()}
    env.globals = {"range": env.globals["range"]}  # no lipsum, cycler, joiner, namespace
    return env


_JINJA = _environment()


# --- scanning --------------------------------------------------------------------------


def _scan_regex(text: str, syntax: Syntax) -> tuple[set[str], list[dict[str, Any]]]:
    """Placeholders of a mustache or fstring template; any other tag is a syntax error."""
    names, errors = set(), []
    for match in (_MUSTACHE if syntax == "mustache" else _FSTRING).finditer(text):
        token, inner = match.group(0), match.group(1)
        if syntax == "fstring" and token in ("{{", "}}"):
            continue
        if inner is not None and _NAME.match(inner.strip() if syntax == "mustache" else inner):
            names.add(inner.strip())
            continue
        if syntax == "mustache":
            message = f"unsupported mustache tag {token!r}: only {{{{ name }}}}"
        else:
            what = (
                f"unsupported placeholder {token!r}" if inner is not None else f"single {token!r}"
            )
            message = f"{what}: only {{name}} (write {{{{ and }}}} for braces)"
        errors.append(_problem("syntax_error", message, line=_line(text, match.start())))
    return names, errors


def _jinja_names(text: str) -> tuple[set[str], list[dict[str, Any]]]:
    try:
        ast = _JINJA.parse(text)
    except TemplateSyntaxError as exc:
        return set(), [_problem("syntax_error", exc.message or str(exc), line=exc.lineno)]
    names = meta.find_undeclared_variables(ast) - set(_JINJA.globals)
    # `{{ x.__class__ }}` would fail at render anyway; say so before anything is stored
    errors = [
        _problem("sandbox_violation", f"access to {n.attr!r} is not allowed", line=n.lineno)
        for n in ast.find_all(nodes.Getattr)
        if n.attr.startswith("_")
    ]
    return names, errors


def _scan(text: str, syntax: Syntax) -> tuple[set[str], list[dict[str, Any]]]:
    return _jinja_names(text) if syntax == "jinja2" else _scan_regex(text, syntax)


def _contents(text: str, kind: Kind) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages of a chat template (or one pseudo-message holding a text template)."""
    if kind == "text":
        return [{"content": text}], []
    try:
        messages = json.loads(text)
    except ValueError as exc:
        return [], [_problem("invalid_chat", f"a chat template is a JSON array: {exc}")]
    if not isinstance(messages, list) or not messages:
        return [], [_problem("invalid_chat", "a chat template is a non-empty JSON array")]
    errors = []
    for i, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or message.get("role") not in CHAT_ROLES
            or not isinstance(message.get("content"), str)
        ):
            errors.append(
                _problem(
                    "invalid_chat",
                    f"message {i}: needs a role of {sorted(CHAT_ROLES)} and a string content",
                )
            )
    return ([] if errors else messages), errors


def _analyse(text: str, syntax: Syntax, kind: Kind) -> tuple[set[str], list[dict[str, Any]]]:
    """The variables a template refers to, and its size, chat and syntax problems."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:  # not parsed at all: the size is the problem
        why = f"the template is {size} bytes; at most {MAX_TEMPLATE_BYTES}"
        return set(), [_problem("too_large", why)]
    messages, problems = _contents(text, kind)
    names: set[str] = set()
    for message in messages:
        found, errors = _scan(message["content"], syntax)
        names |= found
        problems += errors
    return names, problems


def variables_in(text: str, syntax: Syntax = "mustache", *, kind: Kind = "text") -> set[str]:
    """The variables a template refers to (raises `TemplateError` on a syntax error)."""
    names, errors = _analyse(text, syntax, kind)
    if errors:
        raise TemplateError(errors)
    return names


def lint(
    text: str,
    syntax: Syntax = "mustache",
    declared: Mapping[str, Any] | None = None,
    *,
    kind: Kind = "text",
) -> list[dict[str, Any]]:
    """Every problem of a template: size, syntax, undeclared variables, unused declarations
    (with `declared` None nothing is checked against declarations)."""
    names, problems = _analyse(text, syntax, kind)
    if declared is None or any(p["code"] == "syntax_error" for p in problems):
        return problems  # what a template that does not parse uses is unknown
    problems += _declaration_problems(declared)
    for name in sorted(names - set(declared)):
        problems.append(
            _problem("undeclared_variable", f"{name!r} is used but not declared", variable=name)
        )
    for name in sorted(set(declared) - names):
        problems.append(
            _problem("unused_variable", f"{name!r} is declared but not used", variable=name)
        )
    return problems


def _declaration_problems(declared: Mapping[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for name, spec in declared.items():
        if not _NAME.match(name):
            problems.append(
                _problem("invalid_declaration", f"{name!r} is not a name", variable=name)
            )
        elif not isinstance(spec, Mapping) or spec.get("type", "string") not in _TYPES:
            problems.append(
                _problem(
                    "invalid_declaration",
                    f"{name!r}: type must be one of {sorted(_TYPES)}",
                    variable=name,
                )
            )
    return problems


# --- rendering -------------------------------------------------------------------------


def _required(spec: Mapping[str, Any]) -> bool:
    return bool(spec.get("required", "default" not in spec))


def _bind(
    names: set[str], variables: Mapping[str, Any], declared: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The values to render with: given ones checked, declared defaults filled in."""
    errors = []
    known = set(declared) if declared is not None else names
    for name in sorted(set(variables) - known):
        errors.append(_problem("unknown_variable", f"{name!r} is not a variable", variable=name))
    values: dict[str, Any] = {k: v for k, v in variables.items() if k in known}
    for name, spec in (declared or {}).items():
        spec = spec if isinstance(spec, Mapping) else {}
        if name in values:
            kind = spec.get("type", "string")
            check = _TYPES.get(kind)
            if check is not None and not check(values[name]):
                errors.append(
                    _problem("type_mismatch", f"{name!r} must be a {kind}", variable=name)
                )
        elif "default" in spec:
            values[name] = spec["default"]
        elif _required(spec):
            errors.append(_problem("missing_variable", f"{name!r} is required", variable=name))
    for name in sorted(names - set(values) - set(declared or {})):
        errors.append(_problem("missing_variable", f"{name!r} is not given", variable=name))
    if errors:
        raise TemplateError(errors)
    return values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _substitute(
    text: str, pattern: re.Pattern[str], values: Mapping[str, Any], fstring: bool
) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if fstring and token in ("{{", "}}"):
            return token[0]
        name = match.group(1).strip()
        if name not in values:  # declared, optional, not given: renders empty
            return ""
        # what str.format would write for the legacy templates, without str.format
        return format(values[name], "") if fstring else _text(values[name])

    return pattern.sub(replace, text)


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    return _JINJA.from_string(text)


def _deadline_tracer(deadline: float) -> Callable[..., Any]:
    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Timeout
        return local

    def start(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == _TEMPLATE_FILE else None

    return start


def _render_jinja(text: str, values: Mapping[str, Any]) -> str:
    template = _compiled(text)
    previous = sys.gettrace()
    sys.settrace(_deadline_tracer(time.monotonic() + RENDER_TIMEOUT_S))
    out: list[str] = []
    size = 0
    try:
        chunks: Iterator[str] = template.generate(**values)
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(
                    [_problem("output_too_large", f"the output is over {MAX_OUTPUT_CHARS} chars")]
                )
            out.append(chunk)
    except _Timeout:
        raise TemplateError(
            [_problem("render_timeout", f"rendering took over {RENDER_TIMEOUT_S} s")]
        ) from None
    except SecurityError as exc:
        raise TemplateError([_problem("sandbox_violation", str(exc))]) from None
    except JinjaError as exc:
        raise TemplateError([_problem("render_error", exc.message or str(exc))]) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError([_problem("render_error", f"{type(exc).__name__}: {exc}")]) from None
    finally:
        sys.settrace(previous)
    return "".join(out)


def _render_one(text: str, syntax: Syntax, values: Mapping[str, Any]) -> str:
    if syntax == "jinja2":
        return _render_jinja(text, values)
    pattern = _MUSTACHE if syntax == "mustache" else _FSTRING
    rendered = _substitute(text, pattern, values, syntax == "fstring")
    if len(rendered) > MAX_OUTPUT_CHARS:
        raise TemplateError(
            [_problem("output_too_large", f"the output is over {MAX_OUTPUT_CHARS} chars")]
        )
    return rendered


def render(
    text: str,
    syntax: Syntax = "mustache",
    variables: Mapping[str, Any] | None = None,
    declared: Mapping[str, Any] | None = None,
    *,
    kind: Kind = "text",
) -> str:
    """The template rendered with `variables` (and the declared defaults).

    Missing, unknown or mistyped variables and syntax errors raise `TemplateError` naming
    each; without `declared`, the variables are exactly those the template refers to.
    """
    names = variables_in(text, syntax, kind=kind)
    values = _bind(names, variables or {}, declared)
    if kind == "text":
        return _render_one(text, syntax, values)
    messages = json.loads(text)
    rendered = [{**m, "content": _render_one(m["content"], syntax, values)} for m in messages]
    return json.dumps(rendered, ensure_ascii=False)
