"""``costcap fake-provider``: the OpenAI/Anthropic-compatible fake LLM server, on a real socket."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from costcap.cli.app import app
from costcap.cli.options import require_extra
from costcap.errors import ConfigError

MAX_OUTPUT_TOKENS = 1_000_000


@app.command("fake-provider")
def fake_provider(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8787,
    output_tokens: Annotated[
        int, typer.Option(help="Output tokens per response unless a request asks otherwise.")
    ] = 20,
) -> None:
    """Serve /v1/chat/completions, /v1/responses, /v1/messages and /v1/models (SSE included)."""
    if not 0 <= port < 65536:
        raise typer.BadParameter(f"must be 0..65535 (got {port})", param_hint="--port")
    if not 0 <= output_tokens <= MAX_OUTPUT_TOKENS:
        raise typer.BadParameter(
            f"must be 0..{MAX_OUTPUT_TOKENS:,} (got {output_tokens})", param_hint="--output-tokens"
        )
    require_extra("server", "costcap fake-provider", ("starlette", "uvicorn", "anyio"))
    sock = listening(host, port)
    bound = sock.getsockname()[1]  # the port the system chose for --port 0
    base = f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    typer.echo(f"fake provider on {base} (OpenAI base_url {base}/v1); Ctrl+C stops it")
    serve(sock, output_tokens)


def listening(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or a one-line error (in use, no such interface…)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, ValueError) as exc:  # unknown name, NUL or an over-long label in it
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot listen on {host!r}: {reason}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(sock: socket.socket, output_tokens: int) -> None:
    """Serve the fake provider on ``sock`` until interrupted."""
    import uvicorn

    from costcap.testing import FakeProviderConfig, create_fake_provider

    provider = create_fake_provider(FakeProviderConfig(output_tokens=output_tokens))
    config = uvicorn.Config(
        provider.app,
        lifespan="off",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    with sock:
        uvicorn.Server(config).run(sockets=[sock])
