"""Discovery's OpenAPI declares the problems every route can answer with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eco_discovery.main import build_app
from eco_discovery.settings import DiscoverySettings
from eco_shared.problems import PROBLEM_JSON

# every protected route may answer 401 (no valid token) and 403 (a scope is missing)
AUTH = {"401", "403"}
PROBLEMS = {
    ("post", "/instances"): {"400", "409", "413", "422", "503", "507"} | AUTH,
    ("put", "/instances/{instance_id}/heartbeat"): {"404", "409", "422", "503"} | AUTH,
    ("delete", "/instances/{instance_id}"): {"404", "409", "422", "503"} | AUTH,
    ("get", "/instances/{instance_id}"): {"404", "422", "503"} | AUTH,
    ("get", "/services"): {"503"} | AUTH,
    ("get", "/services/{name}"): {"404", "422", "503"} | AUTH,
    ("get", "/services/{name}/openapi"): {"404", "422", "503"} | AUTH,
    ("get", "/capabilities"): {"422", "503"} | AUTH,
    ("get", "/watch"): {"422", "503"} | AUTH,
    ("get", "/.well-known/jwks.json"): {"503"},
    ("post", "/auth/token"): {"400", "401", "413", "503"},
    ("post", "/auth/introspect"): {"400", "413", "503"} | AUTH,
    ("get", "/auth/whoami"): {"503"} | AUTH,
    ("post", "/auth/keys"): {"400", "413", "422", "503"} | AUTH,
    ("get", "/auth/keys"): {"422", "503"} | AUTH,
    ("get", "/auth/keys/{key_id}"): {"404", "422", "503"} | AUTH,
    ("post", "/auth/keys/{key_id}/rotate"): {"400", "404", "413", "422", "503"} | AUTH,
    ("delete", "/auth/keys/{key_id}"): {"404", "422", "503"} | AUTH,
}
SCOPES = {
    ("post", "/instances"): ["discovery:register:{name}"],
    ("put", "/instances/{instance_id}/heartbeat"): ["discovery:register:{name}"],
    ("delete", "/instances/{instance_id}"): ["discovery:register:{name}"],
    ("get", "/instances/{instance_id}"): ["discovery:read"],
    ("get", "/services"): ["discovery:read"],
    ("get", "/services/{name}"): ["discovery:read"],
    ("get", "/services/{name}/openapi"): ["discovery:read"],
    ("get", "/capabilities"): ["discovery:read"],
    ("get", "/watch"): ["discovery:read"],
    ("post", "/auth/introspect"): ["auth:introspect"],
    ("get", "/auth/whoami"): [],
    ("post", "/auth/keys"): ["auth:keys"],
    ("get", "/auth/keys"): ["auth:keys"],
    ("get", "/auth/keys/{key_id}"): ["auth:keys"],
    ("post", "/auth/keys/{key_id}/rotate"): ["auth:keys"],
    ("delete", "/auth/keys/{key_id}"): ["auth:keys"],
}
PUBLIC = {
    ("get", "/.well-known/jwks.json"),
    ("post", "/auth/token"),
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
}


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    settings = DiscoverySettings(environment="test", data_dir=tmp_path)
    return build_app(settings, configure_process=False).openapi()


def test_every_route_declares_its_problems_as_problem_json(spec: dict[str, Any]) -> None:
    for (method, path), expected in PROBLEMS.items():
        responses = spec["paths"][path][method]["responses"]
        problems = {status for status in responses if status.startswith(("4", "5"))}
        assert problems == expected, (method, path)
        for status in problems:
            schema = responses[status]["content"][PROBLEM_JSON]["schema"]
            assert schema == {"$ref": "#/components/schemas/ProblemDetails"}, (path, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_every_route_declares_its_scopes_or_is_public(spec: dict[str, Any]) -> None:
    operations = {
        (method, path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    }
    assert set(operations) == set(SCOPES) | PUBLIC
    for key, scopes in SCOPES.items():
        assert operations[key]["x-eco-scopes"] == scopes, key
        # a scope naming a body or path value is checked in the route: any token gets there
        checked = [s for s in scopes if "{" not in s]
        assert operations[key]["security"] == [{"bearer": checked}], key
        assert "x-eco-public" not in operations[key], key
    for key in PUBLIC:
        assert operations[key]["security"] == [], key
        assert operations[key]["x-eco-public"] is True, key
    # the token endpoint, described as OAuth describes it
    flow = spec["components"]["securitySchemes"]["issuer"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/auth/token"
    assert {"discovery:read", "auth:keys", "admin"} <= set(flow["scopes"])
    token_body = spec["paths"]["/auth/token"]["post"]["requestBody"]["content"]
    assert token_body["application/x-www-form-urlencoded"]["schema"]["required"] == ["grant_type"]
