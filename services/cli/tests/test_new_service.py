"""`eco new-service`: the Copier template renders a working, lint-clean service, wires it
into the workspace and compose, and `copier update` brings it up to date."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit
import yaml

from eco_cli.new_service import NewServiceError, new_service

ROOT = Path(__file__).resolve().parents[3]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A small git repository with our template, root pyproject and compose file."""
    root = tmp_path / "repo"
    (root / "services").mkdir(parents=True)
    shutil.copytree(ROOT / "infra" / "templates", root / "infra" / "templates")
    for name in ("copier.yml", "pyproject.toml", "docker-compose.yml"):
        shutil.copy(ROOT / name, root / name)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "template")
    return root


def test_generated_service_is_wired_in_and_lint_clean(workspace: Path) -> None:
    service = new_service(workspace, "weather-report-for-the-city-x", port=5123, sync=False)
    module = service / "src" / "eco_weather_report_for_the_city_x"
    for rel in (
        "main.py",
        "settings.py",
        "state.py",
        "deps.py",
        "models.py",
        "repository.py",
        "service.py",
    ):
        assert (module / rel).exists(), rel
    # The shape every service has: typed resources, the standard dependency names.
    state = (module / "state.py").read_text()
    assert "@dataclass(frozen=True, slots=True)\nclass Resources:" in state
    deps = (module / "deps.py").read_text()
    for alias in ("SettingsDep", "ResourcesDep", "WeatherReportForTheCityXDep", "RedisDep"):
        assert f'"{alias}"' in deps, alias
    assert "from eco_shared.deps import" in deps
    assert (module / "api" / "notes.py").exists()
    assert (service / "tests" / "test_weather_report_for_the_city_x_api.py").exists()
    main = (module / "main.py").read_text()
    assert "port=5123" in main
    assert 'env_prefix="ECO_WEATHER_REPORT_FOR_THE_CITY_X_"' in main
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["name"] == "weather-report-for-the-city-x"
    assert answers["_commit"]

    pyproject = tomlkit.parse((workspace / "pyproject.toml").read_text()).unwrap()
    members = pyproject["tool"]["uv"]["workspace"]["members"]
    assert "services/weather-report-for-the-city-x" in members
    compose = yaml.safe_load((workspace / "docker-compose.yml").read_text())
    entry = compose["services"]["weather-report-for-the-city-x"]
    assert entry["command"][2] == "eco_weather_report_for_the_city_x.main:create_app"
    assert entry["ports"] == ["5123:5123"]
    assert "http://127.0.0.1:5123/health/ready" in entry["healthcheck"]["test"][3]
    assert entry["depends_on"]["discovery"] == {"condition": "service_healthy"}
    # its own Redis user and client secret, from the env file `eco auth init` writes
    assert entry["env_file"] == [".eco/compose/env/weather-report-for-the-city-x.env"]
    assert entry["environment"]["ECO_WEATHER_REPORT_FOR_THE_CITY_X_HOST"] == "0.0.0.0"
    assert "ECO_REDIS_URL" not in entry["environment"]
    assert compose["secrets"]["redis-acl"]["file"] == "./.eco/compose/auth/redis.acl"

    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(workspace / "pyproject.toml")]
    check = subprocess.run([*ruff, "check", *config, str(service)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [*ruff, "format", "--check", *config, str(service)], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout


@pytest.mark.timeout(500)  # seven tests, each with a real process of its own
def test_generated_service_tests_pass_against_real_redis(
    workspace: Path, redis_url: str, tmp_path: Path
) -> None:
    service = new_service(workspace, "notebook", port=5124, sync=False)
    env = {
        **os.environ,
        "PYTHONPATH": str(service / "src"),
        "ECO_TEST_REDIS_URL": redis_url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(service / "tests")],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=450,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "7 passed" in result.stdout


# The service lives inside the template's own repository, so copier sees its in-progress
# update as "dirty template changes"; that warning is expected here.
@pytest.mark.filterwarnings("ignore::copier.errors.DirtyLocalWarning")
def test_copier_update_brings_a_service_up_to_date(workspace: Path) -> None:
    service = new_service(workspace, "tracker", port=5125, sync=False)
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-qm", "generate tracker")
    readme = workspace / "infra" / "templates" / "service" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nTemplate revision two.\n")
    _git(workspace, "commit", "-qam", "template: revision two")

    from copier import run_update

    run_update(service, defaults=True, overwrite=True, vcs_ref="HEAD", quiet=True)
    assert "Template revision two." in (service / "README.md").read_text()
    assert "# tracker" in (service / "README.md").read_text()


@pytest.mark.parametrize(
    ("name", "message"),
    [("Bad_Name", "invalid name"), ("ab", "invalid name"), ("weather-", "invalid name")],
)
def test_invalid_names_are_refused(workspace: Path, name: str, message: str) -> None:
    with pytest.raises(NewServiceError, match=message):
        new_service(workspace, name, sync=False)


def test_taken_name_and_port_are_refused(workspace: Path) -> None:
    new_service(workspace, "alpha", port=5130, sync=False)
    with pytest.raises(NewServiceError, match="already exists"):
        new_service(workspace, "alpha", sync=False)
    with pytest.raises(NewServiceError, match="port 5130 is taken"):
        new_service(workspace, "beta", port=5130, sync=False)
