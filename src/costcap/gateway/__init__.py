"""costcap's gateway: an OpenAI- and Anthropic-compatible proxy over the Guard.

::

    app = create_app(load_settings("costcap.toml"))   # an ASGI app; nothing opened until startup

Point an SDK at it with only the base URL and the key changed —
``OpenAI(base_url="http://gateway:8700/v1", api_key=<virtual key>)``,
``Anthropic(base_url="http://gateway:8700", api_key=<virtual key>)`` — and every call is
admitted, bounded, metered and settled by the same guarded transport the SDK clients use.
"""

from __future__ import annotations

from costcap.gateway._app import Gateway, GatewayState, create_app
from costcap.gateway._serve import run
from costcap.gateway._settings import GatewaySettings, Upstream, load_settings, parse_settings

__all__ = [
    "Gateway",
    "GatewaySettings",
    "GatewayState",
    "Upstream",
    "create_app",
    "load_settings",
    "parse_settings",
    "run",
]
