"""docker-compose.yml and the Dockerfile, held to the code (no Docker engine runs here).

Every installed service (an `eco.services` entry point, the list `eco up` starts) must be in
compose with the same app factory, port, health check and dependencies, and nothing else.
"""

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from eco_shared.redis_server import RedisServer
from eco_shared.services import ServiceSpec, installed_services
from eco_shared.settings import EcoSettings, ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
INFRA = {"redis", "postgres", "jaeger", "ollama"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def specs() -> list[ServiceSpec]:
    found = installed_services()
    assert found, "no service is installed: run `uv sync --all-packages`"
    return found


def test_every_installed_service_is_composed_and_nothing_else(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    composed = set(compose["services"]) - INFRA
    assert composed == {spec.name for spec in specs}


def test_each_service_runs_the_eco_up_command_on_its_port(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    for spec in specs:
        svc = compose["services"][spec.name]
        assert svc["command"] == [
            "uvicorn",
            "--factory",
            spec.app,
            "--host",
            "0.0.0.0",
            "--port",
            str(spec.port),
        ], spec.name
        assert svc["ports"] == [f"{spec.port}:{spec.port}"], spec.name
        env = svc["environment"]
        assert env[spec.port_env] == str(spec.port), spec.name
        assert env[f"{spec.env_prefix}PUBLIC_URL"] == f"http://{spec.name}:{spec.port}"
        assert env["OTEL_SERVICE_NAME"] == spec.name
        assert svc["build"]["args"]["SERVICE"] == spec.name
        assert (ROOT / "services" / spec.name / "pyproject.toml").exists()


def test_each_app_factory_exists(specs: list[ServiceSpec]) -> None:
    for spec in specs:
        module, _, attr = spec.app.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), spec.app


def test_health_checks_probe_readiness_on_the_service_port(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    for name, svc in compose["services"].items():
        assert "healthcheck" in svc, f"{name} has no health check"
    for spec in specs:
        test = " ".join(compose["services"][spec.name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{spec.port}/health/ready" in test, spec.name


def test_dependencies_wait_for_health(compose: dict[str, Any], specs: list[ServiceSpec]) -> None:
    for spec in specs:
        depends = compose["services"][spec.name]["depends_on"]
        assert depends["redis"] == {"condition": "service_healthy"}
        for other in depends:
            assert depends[other]["condition"] == "service_healthy"
        if spec.name != "discovery":
            assert "discovery" in depends, spec.name


def test_shared_settings_point_at_composed_hosts(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    ports = {spec.name: spec.port for spec in specs}
    for spec in specs:
        env = compose["services"][spec.name]["environment"]
        assert env["ECO_REDIS_URL"] == "redis://redis:6379/0"
        assert env["ECO_DISCOVERY_URL"] == f"http://discovery:{ports['discovery']}"
        database = env.get(f"{spec.env_prefix}DATABASE_URL")
        if database is not None:
            assert database.startswith("postgresql://")
            assert "@postgres:5432/" in database


def test_redis_runs_with_aof_everywhere(compose: dict[str, Any]) -> None:
    conf = (ROOT / "infra" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync everysec$", conf, re.M)
    assert "redis.conf" in " ".join(compose["services"]["redis"]["command"])
    command = " ".join(RedisServer(Path("unused")).command())
    assert "--appendonly yes --appendfsync everysec" in command


def test_dockerfile_builds_any_service_from_the_lock(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    assert "ARG SERVICE" in dockerfile
    assert re.search(r"^USER eco$", dockerfile, re.M), "containers must not run as root"
    assert (
        'uv sync --frozen --no-dev --no-install-workspace --package "eco-${SERVICE}"' in dockerfile
    )
    assert 'uv sync --frozen --no-dev --package "eco-${SERVICE}"' in dockerfile
    for name, svc in compose["services"].items():
        if name not in INFRA:
            assert svc["build"]["dockerfile"] == "infra/Dockerfile"
            assert svc["build"]["context"] == "."


# Kubernetes: the Kustomize base and overlay in infra/k8s.

K8S = ROOT / "infra" / "k8s"
K8S_VERSION = "1.30"


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_generate", K8S / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_k8s_manifests_are_what_the_generator_writes(specs: list[ServiceSpec]) -> None:
    expected = _load_generator().files(specs)
    for rel, text in expected.items():
        path = K8S / rel
        assert path.exists(), f"{rel} missing: run `uv run python infra/k8s/generate.py`"
        assert path.read_text() == text, f"{rel} is stale: run infra/k8s/generate.py"


def test_k8s_manifests_validate_against_the_schemas() -> None:
    import kubernetes_validate

    count = 0
    for path in sorted((K8S / "base").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            count += 1
    assert count >= 12


def test_kustomizations_reference_real_files_and_deployments(specs: list[ServiceSpec]) -> None:
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    for resource in base["resources"]:
        assert (K8S / "base" / resource).exists(), resource
    overlay = yaml.safe_load((K8S / "overlays" / "replicas" / "kustomization.yaml").read_text())
    assert overlay["resources"] == ["../../base"]
    assert {r["name"] for r in overlay["replicas"]} == {s.name for s in specs}
    assert all(r["count"] == 2 for r in overlay["replicas"])


def test_k8s_probes_and_commands_match_the_services(specs: list[ServiceSpec]) -> None:
    for spec in specs:
        deployment, service = yaml.safe_load_all((K8S / "base" / f"{spec.name}.yaml").read_text())
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][2] == spec.app
        assert container["ports"][0]["containerPort"] == spec.port
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["resources"]["requests"]
        assert service["spec"]["ports"][0]["port"] == spec.port


def _settings_class(spec: ServiceSpec) -> type[EcoSettings]:
    module = importlib.import_module(spec.app.split(":")[0].rsplit(".", 1)[0] + ".settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and value.model_config.get("env_prefix") == spec.env_prefix
        ):
            return value
    raise AssertionError(f"no settings class with prefix {spec.env_prefix} in {module}")


def _shared_variables() -> set[str]:
    names = set()
    for field in EcoSettings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str) and c.isupper())
    return names


# Read by the OpenTelemetry SDK itself, not by our settings.
OTEL_VARIABLES = {"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"}


def test_every_compose_variable_is_a_setting(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    shared = _shared_variables()
    assert {"ECO_REDIS_URL", "ECO_DISCOVERY_URL", "ECO_OTLP_ENDPOINT"} <= shared
    for spec in specs:
        fields = set(_settings_class(spec).model_fields)
        for variable in compose["services"][spec.name]["environment"]:
            if variable in shared or variable in OTEL_VARIABLES:
                continue
            assert variable.startswith(spec.env_prefix), f"{spec.name}: {variable}"
            field = variable.removeprefix(spec.env_prefix).lower()
            assert field in fields, f"{spec.name} sets {variable}, which no setting reads"
