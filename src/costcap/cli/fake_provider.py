"""``costcap fake-provider``: the OpenAI/Anthropic-compatible fake LLM server, on a real socket."""

from __future__ import annotations

from typing import Annotated

import typer

from costcap.cli.app import app


@app.command("fake-provider")
def fake_provider(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    output_tokens: Annotated[
        int, typer.Option(help="Output tokens per response unless a request asks otherwise.")
    ] = 20,
) -> None:
    """Serve /v1/chat/completions, /v1/responses, /v1/messages and /v1/models (SSE included)."""
    if not 0 < port < 65536:
        raise typer.BadParameter(f"must be 1..65535 (got {port})", param_hint="--port")
    if output_tokens < 0:
        raise typer.BadParameter(
            f"must not be negative (got {output_tokens})", param_hint="--output-tokens"
        )
    from costcap.testing import FakeProviderConfig, serve_fake_provider

    serve_fake_provider(host, port, FakeProviderConfig(output_tokens=output_tokens))
