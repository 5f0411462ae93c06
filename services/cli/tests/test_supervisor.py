"""The restart policy and the reasons the supervisor gives (the processes themselves are
held by tests/test_supervision.py and tests/test_faults_services.py)."""

from __future__ import annotations

import pytest

from eco_cli.processes import RestartPolicy, exit_reason, last_error


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    policy = RestartPolicy(backoff_initial_s=0.5, backoff_factor=2, backoff_max_s=3, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_takes_at_most_its_share_off_the_delay() -> None:
    policy = RestartPolicy(backoff_initial_s=1, jitter=0.25)
    assert policy.delay(1, draw=lambda: 0.0) == 1.0
    assert policy.delay(1, draw=lambda: 1.0) == 0.75
    assert policy.delay(2, draw=lambda: 0.999) > policy.delay(1, draw=lambda: 0.0)


@pytest.mark.parametrize(
    ("mode", "returncode", "restarted"),
    [
        ("on-failure", 1, True),
        ("on-failure", -9, True),
        ("on-failure", 0, False),
        ("always", 0, True),
        ("no", -9, False),
    ],
)
def test_which_exits_are_restarted(mode: str, returncode: int, restarted: bool) -> None:
    assert RestartPolicy(mode=mode).restarts(returncode) is restarted  # type: ignore[arg-type]


def test_the_policy_comes_from_eco_up_restart_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECO_UP_RESTART_LIMIT", "2")
    monkeypatch.setenv("ECO_UP_RESTART_WINDOW_S", "30")
    monkeypatch.setenv("ECO_UP_RESTART_MODE", "always")
    policy = RestartPolicy()
    assert (policy.limit, policy.window_s, policy.mode) == (2, 30.0, "always")
    monkeypatch.setenv("ECO_UP_RESTART_JITTER", "2")
    with pytest.raises(ValueError, match="jitter"):
        RestartPolicy()


def test_exit_reasons_name_the_signal_or_the_status() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(3) == "exited with status 3"


def test_the_reason_of_a_crash_is_its_last_exception_with_its_detail() -> None:
    output = [
        "Traceback (most recent call last):",
        '  File "main.py", line 3, in create_app',
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings",
        "lease_ttl_s",
        "  Input should be greater than 0 [type=greater_than, input_value='-1']",
        "    For further information visit https://errors.pydantic.dev/2.14/v/greater_than",
    ]
    why = last_error(output)
    assert why is not None
    assert why.startswith("pydantic_core._pydantic_core.ValidationError: 1 validation error")
    assert "lease_ttl_s; Input should be greater than 0" in why
    assert "errors.pydantic.dev" not in why
    assert last_error(['{"level": "info", "event": "started"}']) is None
