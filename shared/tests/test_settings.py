import os
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from eco_shared.locations import Locations
from eco_shared.settings import EcoSettings, ServiceSettings


class DocStoreSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ECO_DOC_STORE_", env_ignore_empty=True)
    service_name: str = "doc-store"
    port: int = 5087


def test_shared_settings_have_working_local_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECO_REDIS_URL", "ECO_DISCOVERY_URL", "ECO_REDIS_PREFIX", "ECO_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = EcoSettings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.discovery_url == "http://127.0.0.1:5045"
    assert settings.otlp_endpoint is None
    assert settings.key("eco.events") == "eco.events"


def test_shared_names_ignore_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECO_REDIS_URL", "redis://example:6390/2")
    monkeypatch.setenv("ECO_REDIS_PREFIX", "run1:")
    monkeypatch.setenv("ECO_DOC_STORE_PORT", "6000")
    monkeypatch.setenv("ECO_PORT", "7000")  # another service's setting must not leak in
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    settings = DocStoreSettings()
    assert settings.redis_url == "redis://example:6390/2"
    assert settings.port == 6000
    assert settings.key("eco.events") == "run1:eco.events"
    assert settings.otlp_endpoint == "http://collector:4318"
    assert settings.base_url == "http://127.0.0.1:6000"
    assert settings.instance_id is not None
    assert settings.instance_id.startswith("doc-store-")


def test_empty_env_values_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECO_DOC_STORE_PORT", "")
    assert DocStoreSettings().port == 5087


def test_public_url_for_wildcard_host() -> None:
    settings = DocStoreSettings(host="0.0.0.0", port=5087)
    assert settings.base_url == "http://127.0.0.1:5087"
    explicit = DocStoreSettings(public_url="http://doc-store:5087/")
    assert explicit.base_url == "http://doc-store:5087"


def test_invalid_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECO_DOC_STORE_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        DocStoreSettings()


LOCATION_ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"ECO_DATA_DIR": "/srv/eco"},
    {"ECO_DATA_DIR": "/srv/eco", "ECO_AUTH_DIR": "/etc/eco/auth"},
    {"ECO_AUTH_DIR": "", "ECO_DATA_DIR": "rel/data"},  # empty: ignored
    {"eco_auth_dir": "/lower/case", "Eco_Auth_Issuer": "https://issuer.example/"},
    {"AUTH_DIR": "/bare/alias", "auth_issuer": "http://bare:1"},  # the alias without prefix
    {"ECO_AUTH_DIR": "/prefixed", "AUTH_DIR": "/bare"},  # the first alias wins
    {"ECO_DISCOVERY_URL": "http://disco:5045/", "ECO_AUTH_ISSUER": ""},
    {"ECO_DISCOVERY_URL": "http://disco:5045", "ECO_AUTH_ISSUER": "http://iss:9/"},
    {"ECO_DOC_STORE_AUTH_DIR": "/not/shared", "ECO_AUTH_ISSUER": " "},  # not its names
]


@pytest.mark.parametrize("environ", LOCATION_ENVIRONMENTS)
@pytest.mark.parametrize("data_dir", [None, Path("/given/data")])
def test_locations_answer_what_eco_settings_answer(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], data_dir: Path | None
) -> None:
    for name in list(os.environ):
        if name.lower().removeprefix("eco_") in (
            "data_dir",
            "discovery_url",
            "auth_dir",
            "auth_issuer",
        ):
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = EcoSettings() if data_dir is None else EcoSettings(data_dir=data_dir)
    found = Locations.from_env(data_dir=data_dir)
    given = Locations.from_env(dict(os.environ), data_dir=data_dir)
    assert found == given
    assert (found.data_dir, found.discovery_url, found.auth_dir, found.auth_issuer) == (
        settings.data_dir,
        settings.discovery_url,
        settings.auth_dir,
        settings.auth_issuer,
    )
    assert (found.auth_path, found.issuer_url) == (settings.auth_path, settings.issuer_url)
