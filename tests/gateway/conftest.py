"""A gateway on a real socket in front of the fake provider, for the gateway's tests.

``gateway_factory(extra_toml=..., budgets=..., ...)`` writes a costcap.toml (SQLite store and
ledger in the test's directory, upstreams pointing at the fake provider), serves
``create_app`` with uvicorn in a thread and yields a :class:`RunningGateway`: its base URLs,
the fake provider (what it billed), a ``key(...)`` maker (real virtual keys, in the key store
the gateway reads) and the ledger's URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from costcap.gateway import Gateway, create_app, load_settings
from costcap.gateway.keys import KeyStore, VirtualKey, open_key_store, parse_key_spec
from costcap.testing import FakeProviderServer, run_fake_provider
from costcap.testing._server import serve_asgi

__all__ = ["RunningGateway"]


@dataclass
class RunningGateway:
    base: str  # http://127.0.0.1:PORT
    fp: FakeProviderServer
    app: Gateway
    config: Path
    ledger_url: str
    keys: KeyStore
    made: list[VirtualKey] = field(default_factory=list)

    @property
    def openai_base(self) -> str:
        return f"{self.base}/v1"

    def key(
        self,
        *,
        user: str | None = "alice",
        feature: str | None = "chat",
        budgets: tuple[str, ...] = (),
        limits: tuple[str, ...] = (),
        models: str | None = None,
        expires: str | None = None,
    ) -> str:
        """A new virtual key's secret."""
        spec = parse_key_spec(
            user=user, feature=feature, budgets=budgets, limits=limits, models=models,
            expires=expires,
        )  # fmt: skip
        made, secret = self.keys.create(spec)
        self.made.append(made)
        return secret

    def flush_ledger(self) -> None:
        state = self.app.state
        assert state is not None
        assert state.ledger is not None
        assert state.ledger.flush(timeout=10)


def gateway_toml(
    tmp: Path,
    fp: FakeProviderServer,
    *,
    budgets: str = "",
    gateway: str = "",
    extra: str = "",
    store: str | None = None,
) -> str:
    return f"""
[guard]
store = "{store or f"sqlite:///{tmp / 'store.db'}"}"
[ledger]
url = "sqlite:///{tmp / "ledger.db"}"
{budgets}
{extra}
[gateway]
admin_key_env = "COSTCAP_TEST_ADMIN_KEY"
{gateway}
[gateway.upstreams.openai]
base_url = "{fp.openai_base_url}"
api_key_env = "COSTCAP_TEST_UPSTREAM_KEY"
[gateway.upstreams.anthropic]
base_url = "{fp.anthropic_base_url}"
api_key_env = "COSTCAP_TEST_UPSTREAM_KEY"
"""


GatewayFactory = Callable[..., RunningGateway]


@pytest.fixture
def gateway_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayFactory]:
    monkeypatch.setenv("COSTCAP_TEST_UPSTREAM_KEY", "sk-upstream-secret-never-leaves")
    monkeypatch.setenv("COSTCAP_TEST_ADMIN_KEY", "admin-secret")
    with ExitStack() as stack:

        def make(**options: Any) -> RunningGateway:
            return stack.enter_context(_running(tmp_path, **options))

        yield make


@contextmanager
def _running(
    tmp: Path,
    *,
    budgets: str = "",
    gateway: str = "",
    extra: str = "",
    store: str | None = None,
    inner: httpx2.AsyncBaseTransport | None = None,
) -> Iterator[RunningGateway]:
    """``store``: the guard's store URL (default: SQLite in ``tmp``; the keys stay there);
    ``inner``: the gateway's transport to the provider (default: HTTP)."""
    with run_fake_provider() as fp:
        config = tmp / "costcap.toml"
        text = gateway_toml(tmp, fp, budgets=budgets, gateway=gateway, extra=extra, store=store)
        if store is not None:
            text = text.replace(
                "[gateway]\n", f'[gateway]\nkeys = "sqlite:///{tmp / "store.db"}"\n'
            )
        config.write_text(text)
        keys = open_key_store(f"sqlite:///{tmp / 'store.db'}")
        app = create_app(load_settings(config), inner=inner)
        try:
            with serve_asgi(app, lifespan="on") as port:
                yield RunningGateway(
                    f"http://127.0.0.1:{port}", fp, app, config,
                    f"sqlite:///{tmp / 'ledger.db'}", keys,
                )  # fmt: skip
        finally:
            keys.close()


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with a $10/day global budget."""
    return gateway_factory(
        budgets='[[budgets]]\nscope = "global"\nperiod = "day"\nlimit_usd = 10\n'
    )
