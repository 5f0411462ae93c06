"""docker-compose.yml and the Dockerfile, held to the code (no Docker engine runs here).

Every installed service (an `eco.services` entry point, the list `eco up` starts) must be in
compose with the same app factory, port, health check and dependencies, and nothing else;
the secrets compose and Kubernetes mount are the files `eco auth init` writes.
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
COMPOSE_AUTH = ".eco/compose/auth"
COMPOSE_ENV = ".eco/compose/env"


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
        # its Redis URL, with its own user, is in its env file (`eco auth init`)
        assert "ECO_REDIS_URL" not in env
        assert compose["services"][spec.name]["env_file"] == [f"{COMPOSE_ENV}/{spec.name}.env"]
        assert env["ECO_DISCOVERY_URL"] == f"http://discovery:{ports['discovery']}"
        database = env.get(f"{spec.env_prefix}DATABASE_URL")
        if database is not None:
            assert database.startswith("postgresql://")
            assert "@postgres:5432/" in database


def _documented_init(compose_text: str) -> list[str]:
    """The `eco auth init` command the compose file's header tells people to run."""
    found = re.search(r"^#\s+uv run eco auth init (.+)$", compose_text, re.M)
    assert found is not None, "docker-compose.yml does not say how to make its key material"
    return found.group(1).split()


def test_compose_mounts_what_eco_auth_init_writes(
    compose: dict[str, Any], specs: list[ServiceSpec], tmp_path: Path
) -> None:
    from eco_cli import acl
    from eco_cli.local_auth import init_deployment

    args = _documented_init((ROOT / "docker-compose.yml").read_text())
    assert args == ["--dir", COMPOSE_AUTH, "--env-dir", COMPOSE_ENV]
    names = tuple(spec.name for spec in specs)
    init_deployment(
        tmp_path / COMPOSE_AUTH, tmp_path / COMPOSE_ENV, names, redis_url="redis://redis:6379/0"
    )
    material_dir = tmp_path / COMPOSE_AUTH
    master = (material_dir / "master").read_bytes()
    acl_lines = (material_dir / "redis.acl").read_text().splitlines()
    for spec in specs:
        svc = compose["services"][spec.name]
        (env_file,) = svc["env_file"]
        values = dict(line.split("=", 1) for line in (tmp_path / env_file).read_text().split())
        secret = acl.password(master, spec.name)
        assert values["ECO_REDIS_URL"] == f"redis://{spec.name}:{secret}@redis:6379/0"
        assert (
            values["ECO_AUTH_CLIENT_SECRET"] == (material_dir / "services" / spec.name).read_text()
        )
        assert any(line.startswith(f"user {spec.name} ") for line in acl_lines)
        # bound to every interface, so ECO_AUTH=off is refused
        assert svc["environment"][f"{spec.env_prefix}HOST"] == "0.0.0.0"
        with pytest.raises(ValueError, match="ECO_AUTH=off is refused"):
            _settings_class(spec)(host="0.0.0.0", auth="off")
    discovery = compose["services"]["discovery"]
    auth_dir = discovery["environment"]["ECO_AUTH_DIR"]
    assert f"./{COMPOSE_AUTH}:{auth_dir}:ro" in discovery["volumes"]
    assert "ECO_AUTH_BOOTSTRAP_KEY" in discovery["environment"]
    for name, svc in compose["services"].items():
        if name != "discovery":
            assert "ECO_AUTH_DIR" not in svc.get("environment", {}), name
            assert not any(COMPOSE_AUTH in str(v) for v in svc.get("volumes", [])), name
    # Redis loads the same ACL file; its health check uses the PING-only user
    redis_ = compose["services"]["redis"]
    assert compose["secrets"]["redis-acl"]["file"] == f"./{COMPOSE_AUTH}/redis.acl"
    assert redis_["secrets"] == [{"source": "redis-acl", "target": "redis.acl"}]
    assert redis_["command"][-2:] == ["--aclfile", "/run/secrets/redis.acl"]
    assert "--user healthcheck" in " ".join(redis_["healthcheck"]["test"])
    assert f"user {acl.HEALTHCHECK_USER} reset resetchannels on nopass -@all +ping" in acl_lines


def test_redis_runs_with_aof_everywhere(compose: dict[str, Any]) -> None:
    conf = (ROOT / "infra" / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync everysec$", conf, re.M)
    assert "redis.conf" in " ".join(compose["services"]["redis"]["command"])
    command = " ".join(RedisServer(Path("unused")).command())
    assert "--appendonly yes --appendfsync everysec" in command
    locked = RedisServer(Path("unused"), aclfile=Path("/x/redis.acl")).command()
    assert locked[-2:] == ["--aclfile", "/x/redis.acl"]


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


def test_k8s_services_read_their_own_secrets(specs: list[ServiceSpec]) -> None:
    for spec in specs:
        deployment, _ = yaml.safe_load_all((K8S / "base" / f"{spec.name}.yaml").read_text())
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert {"secretRef": {"name": f"eco-auth-{spec.name}"}} in container["envFrom"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{spec.env_prefix}HOST"] == "0.0.0.0"
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        if spec.name == "discovery":
            assert mounts["auth"] == {
                "name": "auth",
                "mountPath": env["ECO_AUTH_DIR"],
                "readOnly": True,
            }
            assert volumes["auth"]["secret"]["secretName"] == "eco-auth"
            assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
        else:
            assert "auth" not in mounts
            assert "ECO_AUTH_DIR" not in env
    config = next(yaml.safe_load_all((K8S / "base" / "config.yaml").read_text()))
    assert "ECO_REDIS_URL" not in config["data"]  # each service's own, in its Secret
    statefulset, _ = yaml.safe_load_all((K8S / "base" / "redis.yaml").read_text())
    pod = statefulset["spec"]["template"]["spec"]
    redis_container = pod["containers"][0]
    aclfile = redis_container["args"][redis_container["args"].index("--aclfile") + 1]
    mount = next(m for m in redis_container["volumeMounts"] if m["name"] == "acl")
    assert aclfile == f"{mount['mountPath']}/redis.acl"
    acl_volume = next(v for v in pod["volumes"] if v["name"] == "acl")
    assert acl_volume["secret"]["secretName"] == "eco-redis-acl"
    assert "--user healthcheck" in " ".join(redis_container["readinessProbe"]["exec"]["command"])
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    for secret in ("eco-auth ", "eco-redis-acl ", "eco-auth-$service "):
        assert f"kubectl create secret generic {secret}" in operations, secret


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


def _variables(settings_class: type[EcoSettings]) -> set[str]:
    names = set()
    for field in settings_class.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str) and c.isupper())
    return names


def _shared_variables() -> set[str]:
    return _variables(EcoSettings)


# Read by the OpenTelemetry SDK itself, not by our settings.
OTEL_VARIABLES = {"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"}


def test_every_compose_variable_is_a_setting(
    compose: dict[str, Any], specs: list[ServiceSpec]
) -> None:
    shared = _shared_variables()
    assert {"ECO_REDIS_URL", "ECO_DISCOVERY_URL", "ECO_OTLP_ENDPOINT", "ECO_AUTH_DIR"} <= shared
    assert "ECO_AUTH_CLIENT_SECRET" in shared  # what the env files set
    for spec in specs:
        settings_class = _settings_class(spec)
        fields = set(settings_class.model_fields)
        own = _variables(settings_class)  # its own names without the prefix (the issuer's)
        for variable in compose["services"][spec.name]["environment"]:
            if variable in shared or variable in OTEL_VARIABLES or variable in own:
                continue
            assert variable.startswith(spec.env_prefix), f"{spec.name}: {variable}"
            field = variable.removeprefix(spec.env_prefix).lower()
            assert field in fields, f"{spec.name} sets {variable}, which no setting reads"
