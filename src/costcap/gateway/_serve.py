"""Running the gateway under uvicorn: one process, or ``workers`` processes on one socket.

Each worker process builds its own app (:func:`app_from_environment`, uvicorn's factory) from
the settings the parent validated and passed in the environment: the guard, ledger and key
store are opened per process at startup, never shared across a fork.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from costcap.gateway._app import Gateway, create_app
from costcap.gateway._settings import GatewaySettings, load_settings

__all__ = ["app_from_environment", "run"]

_ENV = "COSTCAP_GATEWAY_SETTINGS"  # the config path and the command line's overrides, as JSON


def app_from_environment() -> Gateway:
    """The app of one worker process (uvicorn's ``factory``)."""
    said: dict[str, Any] = json.loads(os.environ[_ENV])
    settings = load_settings(Path(said.pop("config"))).with_options(**said)
    return create_app(settings)


def run(
    settings: GatewaySettings,
    *,
    sock: socket.socket | None = None,
    log_level: str = "warning",
    access_log: bool = False,
) -> None:
    """Serve until interrupted (Ctrl+C, SIGTERM: in-flight requests finish first), on ``sock``
    when given (bound by the caller, so that a port in use is its one-line error), else on
    ``settings.host:port``."""
    import uvicorn

    options: dict[str, Any] = {
        "log_level": log_level, "access_log": access_log, "lifespan": "on",
        "timeout_graceful_shutdown": 30, "server_header": False, "date_header": False,
    }  # fmt: skip
    if sock is None:
        options |= {"host": settings.host, "port": settings.port}
    if settings.workers == 1:
        app = create_app(settings)
        if sock is None:
            uvicorn.run(app, **options)
        else:
            with sock:
                uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        return
    os.environ[_ENV] = json.dumps({
        "config": str(settings.config.resolve()), "host": settings.host, "port": settings.port,
    })  # fmt: skip
    if sock is not None:
        options["fd"] = sock.fileno()  # the workers share the socket the caller bound
    uvicorn.run(
        "costcap.gateway._serve:app_from_environment", factory=True, workers=settings.workers,
        **options,
    )  # fmt: skip
