"""`eco new-service NAME`: generate a service from the Copier template and wire it in.

The template is `infra/templates/service` (declared by the root `copier.yml`). After
rendering, the service is added to the workspace members, to `docker-compose.yml` and to
the Kubernetes manifests, and the lock and environment are brought up to date. `eco up`
gives it a Redis user of its own at its next start; for compose, `eco auth init` again
writes its env file and its user into the ACL file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import tomlkit

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
FIRST_TEMPLATE_PORT = 5120


class NewServiceError(Exception):
    """The service cannot be generated (bad name, taken name or port, not a workspace)."""


def find_workspace_root(start: Path) -> Path:
    """The nearest directory at or above `start` whose pyproject declares the uv workspace."""
    for path in [start, *start.parents]:
        pyproject = path / "pyproject.toml"
        if pyproject.exists() and "[tool.uv.workspace]" in pyproject.read_text():
            return path
    raise NewServiceError(f"no uv workspace at or above {start}")


def used_ports(root: Path) -> set[int]:
    """Ports already taken by services in the workspace (read from their ServiceSpecs)."""
    ports = set()
    for main in root.glob("services/*/src/*/main.py"):
        match = re.search(r"\bport=(\d+)", main.read_text())
        if match:
            ports.add(int(match.group(1)))
    return ports


def next_port(root: Path) -> int:
    """The first free port from 5120 up (5030-5110 belong to the core services)."""
    taken = used_ports(root)
    port = FIRST_TEMPLATE_PORT
    while port in taken:
        port += 1
    return port


def add_workspace_member(root: Path, name: str) -> None:
    """Add `services/NAME` to the workspace members and its module to ruff's first-party list."""
    path = root / "pyproject.toml"
    doc = tomlkit.parse(path.read_text())
    members = doc["tool"]["uv"]["workspace"]["members"]  # type: ignore[index]
    member = f"services/{name}"
    if member not in members:  # type: ignore[operator]
        members.append(member)  # type: ignore[union-attr]
    isort = doc["tool"]["ruff"]["lint"]["isort"]  # type: ignore[index]
    module = f"eco_{name.replace('-', '_')}"
    known = isort["known-first-party"]  # type: ignore[index]
    if module not in known:  # type: ignore[operator]
        known.append(module)  # type: ignore[union-attr]
    path.write_text(tomlkit.dumps(doc))


def compose_block(name: str, port: int) -> str:
    """The docker-compose service entry for a generated service."""
    module = name.replace("-", "_")
    prefix = f"ECO_{module.upper()}_"
    command = json.dumps(
        ["uvicorn", "--factory", f"eco_{module}.main:create_app"]
        + ["--host", "0.0.0.0", "--port", str(port)]
    )
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}/health/ready', timeout=3)"
    )
    healthcheck = json.dumps(["CMD", "python", "-c", probe])
    return f"""  {name}:
    <<: *service
    build:
      <<: *build
      args:
        SERVICE: {name}
    command: {command}
    ports:
      - "{port}:{port}"
    depends_on:
      <<: *depends
      discovery:
        condition: service_healthy
    env_file: [.eco/compose/env/{name}.env]
    environment:
      <<: *env
      OTEL_SERVICE_NAME: {name}
      # bound to every interface: ECO_AUTH=off is refused
      {prefix}HOST: 0.0.0.0
      {prefix}PORT: "{port}"
      {prefix}PUBLIC_URL: http://{name}:{port}
    healthcheck:
      test: {healthcheck}
      <<: *healthcheck

"""


def add_to_compose(root: Path, name: str, port: int) -> None:
    """Insert the service into docker-compose.yml, at the end of its `services:`."""
    path = root / "docker-compose.yml"
    text = path.read_text()
    if re.search(rf"^  {re.escape(name)}:$", text, re.M):
        return
    services = text.index("\nservices:\n") + len("\nservices:\n")
    after = re.compile(r"^\S", re.M).search(text, services)  # the next top-level key
    index = after.start() if after else len(text)
    path.write_text(text[:index] + compose_block(name, port) + text[index:])


def render(root: Path, name: str, port: int, description: str) -> Path:
    """Render the Copier template into services/NAME."""
    from copier import run_copy

    destination = root / "services" / name
    run_copy(
        str(root),
        destination,
        data={"name": name, "port": port, "description": description},
        vcs_ref="HEAD",
        defaults=True,
        quiet=True,
    )
    return destination


def _uv() -> str:
    # `uv run` exports its own path as UV; a pip-installed uv may not be on PATH.
    return os.environ.get("UV") or shutil.which("uv") or "uv"


def _run(root: Path, *command: str) -> None:
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise NewServiceError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def new_service(
    root: Path, name: str, *, port: int | None = None, description: str = "", sync: bool = True
) -> Path:
    """Generate services/NAME and wire it into the workspace, compose and Kubernetes."""
    if not NAME_RE.match(name):
        raise NewServiceError(
            f"invalid name {name!r}: use 3-30 lowercase letters, digits and dashes"
        )
    if (root / "services" / name).exists():
        raise NewServiceError(f"services/{name} already exists")
    if port is None:
        port = next_port(root)
    elif port in used_ports(root):
        raise NewServiceError(f"port {port} is taken by another service")
    destination = render(
        root, name, port, description or "A service of the LLM Documentation Ecosystem."
    )
    add_workspace_member(root, name)
    add_to_compose(root, name, port)
    if sync:
        _run(root, _uv(), "lock")
        _run(root, _uv(), "sync", "--all-packages")
        _run(root, _uv(), "run", "python", "infra/k8s/generate.py")
    return destination
