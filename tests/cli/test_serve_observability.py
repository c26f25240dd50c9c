"""``keyloft serve`` refuses unusable logging and tracing settings with a clear message."""

from __future__ import annotations

import sys

import pytest

from tests.support.cli import Invoke


def test_tracing_configured_without_its_packages_refuses(
    initialised: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes Python treat the package as not importable.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    monkeypatch.setenv("KEYLOFT_OTEL_ENDPOINT", "http://127.0.0.1:4318")
    result = initialised("serve", "--port", "1")
    assert result.exit_code == 1
    assert "OpenTelemetry packages are not installed" in result.output
    assert "keyloft[otel]" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("KEYLOFT_LOG_LEVEL", "LOUD", "KEYLOFT_LOG_LEVEL"),
        ("KEYLOFT_LOG_FORMAT", "xml", "KEYLOFT_LOG_FORMAT"),
        ("KEYLOFT_METRICS_ENABLED", "perhaps", "KEYLOFT_METRICS_ENABLED"),
    ],
)
def test_bad_observability_settings_refuse(
    initialised: Invoke, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = initialised("serve", "--port", "1")
    assert result.exit_code == 1
    assert named in result.output
    assert "Traceback" not in result.output
