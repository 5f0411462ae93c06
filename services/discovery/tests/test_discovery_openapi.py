"""Discovery's OpenAPI declares the problems every route can answer with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eco_discovery.main import build_app
from eco_discovery.settings import DiscoverySettings
from eco_shared.problems import PROBLEM_JSON

PROBLEMS = {
    ("post", "/instances"): {"400", "413", "422", "503", "507"},
    ("put", "/instances/{instance_id}/heartbeat"): {"404", "422", "503"},
    ("delete", "/instances/{instance_id}"): {"404", "422", "503"},
    ("get", "/instances/{instance_id}"): {"404", "422", "503"},
    ("get", "/services"): {"503"},
    ("get", "/services/{name}"): {"404", "422", "503"},
    ("get", "/services/{name}/openapi"): {"404", "422", "503"},
    ("get", "/capabilities"): {"422", "503"},
    ("get", "/watch"): {"422", "503"},
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
