"""Write the Kustomize base and overlay for every installed service.

`uv run python infra/k8s/generate.py` after adding a service; tests/test_deployment.py
fails when the committed manifests differ from what this writes, or when any manifest does
not validate against the Kubernetes schemas.

Every service reads its own Secret `eco-auth-<name>` (its `ECO_REDIS_URL` with its own
Redis user, its `ECO_AUTH_CLIENT_SECRET`); discovery, the issuer, also mounts `eco-auth`
(signing keys, pepper, master, admin key) at `ECO_AUTH_DIR`. `eco auth init` writes them
(docs/OPERATIONS.md, "Key material for compose and Kubernetes").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from eco_shared.services import ServiceSpec, installed_services

HERE = Path(__file__).resolve().parent
IMAGE_TAG = "0.1.0"
# Services whose state lives in PostgreSQL (and Redis) rather than on local disk.
DATABASE_SERVICES = {"doc-store", "log-collector", "orchestrator"}
PART_OF = {"app.kubernetes.io/part-of": "eco"}
ISSUER = "discovery"
AUTH_DIR = "/run/eco-auth"
AUTH_SECRET = "eco-auth"
UID = 10001  # the image's `eco` user (infra/Dockerfile)


def auth_secret(name: str) -> str:
    """The Secret holding one service's Redis URL and client secret (as env variables)."""
    return f"eco-auth-{name}"


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, **PART_OF}


def _probe(path: str, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def service_manifests(spec: ServiceSpec) -> list[dict[str, Any]]:
    """A Deployment and a Service for one of our services."""
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "OTEL_SERVICE_NAME", "value": spec.name},
        {"name": spec.port_env, "value": str(spec.port)},
        # Each replica registers its own address with discovery, not the Service's.
        {"name": f"{spec.env_prefix}PUBLIC_URL", "value": f"http://$(POD_IP):{spec.port}"},
        {"name": f"{spec.env_prefix}INSTANCE_ID", "value": "$(POD_NAME)"},
        # bound to every interface: ECO_AUTH=off is refused
        {"name": f"{spec.env_prefix}HOST", "value": "0.0.0.0"},
    ]
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": "/data"}]
    volumes: list[dict[str, Any]] = [{"name": "data", "emptyDir": {}}]
    if spec.name == ISSUER:
        env.append({"name": "ECO_AUTH_DIR", "value": AUTH_DIR})
        mounts.append({"name": "auth", "mountPath": AUTH_DIR, "readOnly": True})
        # owner and group read (fsGroup); kubelet swaps the files atomically on rotation
        volumes.append(
            {"name": "auth", "secret": {"secretName": AUTH_SECRET, "defaultMode": 0o440}}
        )
    if spec.name in DATABASE_SERVICES:
        env.append(
            {
                "name": f"{spec.env_prefix}DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": "eco-secrets", "key": "database-url"}},
            }
        )
    container = {
        "name": spec.name,
        "image": f"eco/{spec.name}:{IMAGE_TAG}",
        "command": [
            "uvicorn",
            "--factory",
            spec.app,
            "--host",
            "0.0.0.0",
            "--port",
            str(spec.port),
        ],
        "ports": [{"name": "http", "containerPort": spec.port}],
        "envFrom": [
            {"configMapRef": {"name": "eco-config"}},
            {"secretRef": {"name": auth_secret(spec.name)}},
        ],
        "env": env,
        "readinessProbe": _probe("/health/ready", 5),
        "livenessProbe": _probe("/health", 10),
        "resources": {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"memory": "768Mi"},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False},
        "volumeMounts": mounts,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "labels": _labels(spec.name)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": spec.name}},
            "template": {
                "metadata": {"labels": _labels(spec.name)},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "fsGroup": UID},
                    "terminationGracePeriodSeconds": 15,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "labels": _labels(spec.name)},
        "spec": {
            "selector": {"app.kubernetes.io/name": spec.name},
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def files(specs: list[ServiceSpec]) -> dict[str, str]:
    """Every manifest file, by path relative to infra/k8s."""
    out: dict[str, str] = {}
    for spec in specs:
        out[f"base/{spec.name}.yaml"] = yaml.safe_dump_all(service_manifests(spec), sort_keys=False)
    resources = ["config.yaml", "redis.yaml", "postgres.yaml"] + [
        f"{spec.name}.yaml" for spec in specs
    ]
    out["base/kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "labels": [{"pairs": PART_OF}],
            "resources": resources,
        },
        sort_keys=False,
    )
    out["overlays/replicas/kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["../../base"],
            "replicas": [{"name": spec.name, "count": 2} for spec in specs],
        },
        sort_keys=False,
    )
    return out


def main() -> int:
    for rel, text in files(installed_services()).items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
