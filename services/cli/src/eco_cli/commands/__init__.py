"""The `eco` commands, one module per group; `register` adds them all to the app.

Commands that answer a question take `--json` for scripts; all of those that talk to the
ecosystem exit non-zero with a clear message when it is not running (3), an id does not
exist (1) or a service refuses the request (2); all of those authenticate with the CLI's
API key (`eco_cli.local_auth`).
"""

from __future__ import annotations

import typer

from eco_cli.commands._common import EXIT_NOT_FOUND, EXIT_NOT_RUNNING, emit_json, run
from eco_cli.commands.ask import ask, runs
from eco_cli.commands.audit import audit_app
from eco_cli.commands.auth import auth_app
from eco_cli.commands.console import console
from eco_cli.commands.docs import docs_app
from eco_cli.commands.generate import new_service_command
from eco_cli.commands.lifecycle import down, status, up
from eco_cli.commands.logs import logs
from eco_cli.commands.prompts import prompts_app
from eco_cli.commands.services import services
from eco_cli.commands.traces import explain, trace

__all__ = ["EXIT_NOT_FOUND", "EXIT_NOT_RUNNING", "emit_json", "register", "run"]


def register(app: typer.Typer) -> None:
    """Add every command to the `eco` app, in the order `eco --help` lists them."""
    app.command()(ask)
    app.command()(services)
    app.command()(runs)
    app.command()(logs)
    app.command()(trace)
    app.command()(explain)
    app.command()(console)
    app.add_typer(docs_app, name="docs")
    app.add_typer(prompts_app, name="prompts")
    app.add_typer(audit_app, name="audit")
    app.add_typer(auth_app, name="auth")
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command("new-service")(new_service_command)
