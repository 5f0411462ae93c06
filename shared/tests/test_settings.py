import pytest
from pydantic_settings import SettingsConfigDict

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
