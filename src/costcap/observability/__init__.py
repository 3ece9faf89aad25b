"""Optional observability: Prometheus metrics and OpenTelemetry span attributes.

Both are Guard observers (see :mod:`costcap.observe`) and both are optional extras, imported
only when a name below is first used, so ``import costcap.observability`` costs nothing::

    pip install 'costcap[metrics]'   # PrometheusObserver, BudgetCollector, make_asgi_app
    pip install 'costcap[otel]'      # OtelObserver
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from costcap.observability.otel import OtelObserver
    from costcap.observability.prometheus import (
        BudgetCollector,
        PrometheusObserver,
        make_asgi_app,
    )

__all__ = ["BudgetCollector", "OtelObserver", "PrometheusObserver", "make_asgi_app"]

_HOMES = {
    "BudgetCollector": "prometheus",
    "PrometheusObserver": "prometheus",
    "make_asgi_app": "prometheus",
    "OtelObserver": "otel",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
