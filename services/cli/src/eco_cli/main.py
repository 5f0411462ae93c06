"""`eco`: the command people meet the ecosystem through."""

from __future__ import annotations

import typer

from eco_cli import commands

app = typer.Typer(help="The LLM Documentation Ecosystem.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """The LLM Documentation Ecosystem."""


commands.register(app)


if __name__ == "__main__":
    app()
