"""``costcap serve``: the OpenAI- and Anthropic-compatible gateway."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from costcap.cli.app import app
from costcap.cli.fake_provider import listening
from costcap.cli.options import NO_CONFIG, config_path, require_extra
from costcap.errors import ConfigError


@app.command("serve")
def serve(
    config: Annotated[
        Path | None, typer.Option(help="costcap.toml: the guard, \\[gateway] and its upstreams.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (\\[gateway] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (\\[gateway] port).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (\\[gateway] workers).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the gateway: point an SDK's base URL at it, with a virtual key as its API key."""
    require_extra("gateway", "costcap serve", ("starlette", "uvicorn", "httpx2", "anyio"))
    path = config_path(config)
    if path is None:
        raise ConfigError(NO_CONFIG)
    if port is not None and not 0 <= port < 65536:
        raise typer.BadParameter(f"must be 0..65535 (got {port})", param_hint="--port")
    if workers is not None and not 1 <= workers <= 256:
        raise typer.BadParameter(f"must be 1..256 (got {workers})", param_hint="--workers")
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        raise typer.BadParameter(f"not a log level: {log_level!r}", param_hint="--log-level")
    from costcap.config import load_config
    from costcap.gateway import load_settings, run
    from costcap.gateway.keys import keys_url

    settings = load_settings(path).with_options(host=host, port=port, workers=workers)
    guard_config = load_config(path)  # every problem in the file, before a worker starts
    if not settings.allow_anonymous or settings.keys:
        keys_url(guard_config, settings.keys)
    logging.basicConfig(level=log_level.upper() if log_level != "trace" else "DEBUG")
    for upstream in settings.upstreams.values():
        if upstream.api_key() is None:
            logging.getLogger("costcap.gateway").warning(
                "%s upstream %s: $%s is not set; requests go without a provider key",
                upstream.provider, upstream.base_url, upstream.api_key_env,
            )  # fmt: skip
    sock = listening(settings.host, settings.port)  # a port in use: one line, exit 2
    port = sock.getsockname()[1]  # the port the system chose for --port 0
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    where = f"http://{host}:{port}"
    typer.echo(f"costcap gateway on {where} (OpenAI base_url {where}/v1, Anthropic {where})")
    run(settings, sock=sock, log_level=log_level, access_log=access_log)
