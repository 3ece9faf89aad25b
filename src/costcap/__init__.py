"""costcap keeps LLM spend bounded."""

from __future__ import annotations

from costcap.errors import ConfigError, CostcapError, UnknownModel, UsageError

__all__ = ["ConfigError", "CostcapError", "UnknownModel", "UsageError", "__version__"]

__version__ = "0.1.0"
