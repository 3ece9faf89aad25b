"""Serving the fake provider on a real socket: a background thread for tests, or blocking."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio.to_thread
import uvicorn

from costcap.testing._app import FakeProvider, create_fake_provider
from costcap.testing._config import FakeProviderConfig
from costcap.testing._record import ServedRequest

__all__ = [
    "FakeProviderServer",
    "run_fake_provider",
    "run_fake_provider_async",
    "serve_fake_provider",
]

_START_TIMEOUT_S = 10.0


class FakeProviderServer:
    """A fake provider being served: where to reach it, and its record of requests.

    ``base_url`` is ``http://HOST:PORT``; an OpenAI client wants ``openai_base_url``
    (``…/v1``), an Anthropic client wants ``anthropic_base_url`` (the same as ``base_url``).
    """

    def __init__(self, provider: FakeProvider, host: str, port: int) -> None:
        self.provider = provider
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self.openai_base_url = f"{self.base_url}/v1"
        self.anthropic_base_url = self.base_url

    def __repr__(self) -> str:
        return f"<FakeProviderServer {self.base_url}>"

    @property
    def requests(self) -> tuple[ServedRequest, ...]:
        """See :attr:`FakeProvider.requests`."""
        return self.provider.requests

    @property
    def last(self) -> ServedRequest:
        """See :attr:`FakeProvider.last`."""
        return self.provider.last

    def reset(self) -> None:
        """See :meth:`FakeProvider.reset`."""
        self.provider.reset()

    def billed_input_tokens(self, *, model: str | None = None) -> int:
        """See :meth:`FakeProvider.billed_input_tokens`."""
        return self.provider.billed_input_tokens(model=model)

    def billed_output_tokens(self, *, model: str | None = None) -> int:
        """See :meth:`FakeProvider.billed_output_tokens`."""
        return self.provider.billed_output_tokens(model=model)

    def billed_cached_tokens(self, *, model: str | None = None) -> int:
        """See :meth:`FakeProvider.billed_cached_tokens`."""
        return self.provider.billed_cached_tokens(model=model)


def _uvicorn_config(app: Any, log_level: str, lifespan: str, **options: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan=lifespan,  # type: ignore[arg-type]
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        **options,  # type: ignore[arg-type]
    )


def _loop_factory() -> Any:
    """uvloop's loop when it is installed (as uvicorn would pick), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _serve_in_this_thread(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run ``server`` on a loop of this thread's own. Not ``server.run()``: uvicorn < 0.36 sets
    the process-wide event-loop policy to uvloop there, which would leak out of a background
    server into everything else the process runs (a process forked later then inherits a used
    uvloop, which uvloop does not support: its children hang on their first DNS lookup)."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))


@contextmanager
def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    lifespan: str = "off",
) -> Iterator[int]:
    """Serve any ASGI ``app`` with uvicorn in a background thread; yields the bound port.

    The server stops, and its socket is closed, when the block exits.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says so; without it Nagle + delayed ACK add ~40 ms to every answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        bound_port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(app, log_level, lifespan))
        thread = threading.Thread(
            target=_serve_in_this_thread,
            args=(server, sock),
            name=f"costcap-asgi-{bound_port}",
            daemon=True,
        )
        thread.start()
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start on {host}:{bound_port}")
                time.sleep(0.005)
            yield bound_port
        finally:
            server.should_exit = True
            thread.join(_START_TIMEOUT_S)
    finally:
        sock.close()


@contextmanager
def run_fake_provider(
    config: FakeProviderConfig | None = None,
    *,
    provider: FakeProvider | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> Iterator[FakeProviderServer]:
    """Serve a fake provider with uvicorn in a background thread, on a free port by default.

    ::

        with run_fake_provider() as fp:
            client = openai.OpenAI(base_url=fp.openai_base_url, api_key="test")
            ...
            assert fp.billed_output_tokens() == 20

    Pass *provider* to serve one you built (and keep) yourself, else one is built from *config*.
    The server stops, and its socket is closed, when the block exits.
    """
    if provider is not None and config is not None:
        raise TypeError("pass either config or provider, not both")
    served = provider if provider is not None else create_fake_provider(config)
    with serve_asgi(served.app, host=host, port=port, log_level=log_level) as bound_port:
        yield FakeProviderServer(served, host, bound_port)


@asynccontextmanager
async def run_fake_provider_async(
    config: FakeProviderConfig | None = None,
    *,
    provider: FakeProvider | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> AsyncIterator[FakeProviderServer]:
    """:func:`run_fake_provider` for async code: starts and stops without blocking the loop."""
    manager = run_fake_provider(
        config, provider=provider, host=host, port=port, log_level=log_level
    )
    server = await anyio.to_thread.run_sync(manager.__enter__)
    try:
        yield server
    finally:
        await anyio.to_thread.run_sync(manager.__exit__, None, None, None)


def serve_fake_provider(
    host: str = "127.0.0.1",
    port: int = 8099,
    config: FakeProviderConfig | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Serve a fake provider in the foreground until interrupted (for ``costcap fake-provider``)."""
    provider = create_fake_provider(config)
    uvicorn.Server(_uvicorn_config(provider.app, log_level, "off", host=host, port=port)).run()
