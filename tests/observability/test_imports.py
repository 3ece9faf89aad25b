"""The extras stay optional: nothing heavy on import, a clear hint when one is missing."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_importing_observability_imports_neither_extra() -> None:
    """`import costcap.observability` loads neither prometheus_client nor opentelemetry."""
    result = run(
        "import sys, costcap.observability\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prometheus_client', 'opentelemetry'))\n"
        "print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_extra_names_the_package_to_install() -> None:
    """Without prometheus-client, using PrometheusObserver says which extra to install."""
    result = run(
        "import sys\n"
        "sys.modules['prometheus_client'] = None\n"
        "from costcap.observability import PrometheusObserver\n"
    )
    assert result.returncode != 0
    assert "pip install 'costcap[metrics]'" in result.stderr


def test_unknown_names_raise_attribute_error() -> None:
    """A name the package does not have is an AttributeError, not an import of anything."""
    result = run("import costcap.observability as o\nprint(hasattr(o, 'Nope'))")
    assert result.stdout.strip() == "False"
