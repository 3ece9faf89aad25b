"""Run a day of traffic through costcap — configured by a costcap.toml, on the embedded SQLite
store, every call recorded in the cost ledger — against the fake provider."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import anthropic
import httpx
import openai

from costcap.alerts import Alert
from costcap.demo._gateway import DemoGateway, GatewayKey
from costcap.demo._providers import ABANDONED, Clients, send
from costcap.demo._traffic import Request, day_of_requests, in_batches
from costcap.errors import BudgetExceeded
from costcap.guard import Guard
from costcap.ledger import CostEvent, Ledger
from costcap.limits import RateLimited
from costcap.policy import PolicyViolation
from costcap.pricing import default_catalog
from costcap.reports import Reports
from costcap.service_tiers import price_context
from costcap.testing import FakeProviderServer, run_fake_provider

__all__ = ["DayResult", "GatewayDay", "Outcome", "simulate_day", "write_config"]

CONFIG = """\
# The demo product's costcap.toml: what a team would write.
[guard]
store = "sqlite:///{db}"

[ledger]
url = "sqlite:///{ledger}"

[policy]
default_max_tokens = 512
max_tokens_cap = 4096

[policy.features.code]
max_tokens_cap = 2000

[policy.features.summarize]
default_max_tokens = 300
allowed_models = ["gpt-4o-mini"]

[cache]
url = "sqlite:///{cache}"
ttl = "1d"
# help-centre answers (temperature 0: deterministic) stay good for a week
[cache.features.faq]
ttl = "7d"

# chat asks for model="costcap:auto": each call goes to the tier its prompt needs
[router.features.chat]
simple = "claude-haiku-4-5"
complex = "claude-sonnet-4-6"
critical = "claude-opus-4-6"
pressure = 0.4   # a user past 40 % of a budget: one tier down

[[budgets]]
scope = "global"
period = "day"
limit_usd = "4"

[[budgets]]
scope = "user:*"
period = "day"
limit_usd = "0.12"

[[budgets]]
scope = "feature:code"
period = "month"
limit_usd = "0.30"
mode = "soft"

[[limits]]
rate = "30/minute"
per = "user"

[[limits]]
rate = "20000 tokens/hour"
per = "user"

[[limits]]
rate = "3 concurrent"
per = "user"

# `costcap serve`, for the services not written in Python: each calls it with a virtual key
# of its own (`costcap keys create`, kept in the store's database); the provider keys stay
# with the gateway, in the variables named here (the fake provider needs none)
[gateway]
budget_status = 402

[gateway.upstreams.openai]
base_url = "{openai}"
api_key_env = "COSTCAP_DEMO_OPENAI_KEY"

[gateway.upstreams.anthropic]
base_url = "{anthropic}"
api_key_env = "COSTCAP_DEMO_ANTHROPIC_KEY"
"""


def write_config(workdir: Path, provider: FakeProviderServer) -> Path:
    """The day's costcap.toml; the gateway forwards to ``provider``."""
    path = workdir / "costcap.toml"
    path.write_text(CONFIG.format(db=workdir / "costcap.db", ledger=workdir / "costcap-ledger.db",
                                  cache=workdir / "costcap-cache.db",
                                  openai=provider.openai_base_url,
                                  anthropic=provider.anthropic_base_url))  # fmt: skip
    return path


@dataclass(frozen=True, slots=True)
class Outcome:
    request: Request
    status: Literal["ok", "refused", "error"]
    refused_by: str = ""
    http_status: int | None = None  # a gateway request's answer (None: through the SDKs)
    request_id: str | None = None  # a gateway request's x-costcap-request-id


class Spend:
    """A Guard observer keeping the running spend for the progress bar; with ``by_request``,
    also each call's cost by its request id."""

    def __init__(self, *, by_request: bool = False) -> None:
        self.pico = 0
        self.cut = 0
        self.cut_pico = 0
        self.by_request: dict[str, int] | None = {} if by_request else None
        self._lock = threading.Lock()

    def on_event(self, event: CostEvent) -> None:
        with self._lock:
            self.pico += event.cost_pico
            if event.status == "cut":
                self.cut += 1
                self.cut_pico += event.cost_pico
            if self.by_request is not None:
                self.by_request[event.request_id] = event.cost_pico


@dataclass(frozen=True)
class GatewayDay:
    """The gateway's part of the day: where it listened, its keys (by feature) and the HTTP
    statuses each key's service got back."""

    base_url: str
    keys: dict[str, GatewayKey]
    statuses: dict[str, dict[int, int]]


@dataclass
class DayResult:
    outcomes: list[Outcome]
    alerts: list[Alert]
    provider_billed_pico: int
    recorded_pico: int  # the ledger's total, read back from it (both paths)
    cut_streams: int
    billed_cut_pico: int  # what the provider billed for the streams users abandoned
    recorded_cut_pico: int
    config: Path
    ledger_url: str
    store_url: str
    budgets: list[dict[str, object]] = field(default_factory=list)
    gateway: GatewayDay | None = None


def _run_batch(clients: Clients, gateway: DemoGateway, batch: list[Request]) -> list[Outcome]:
    """One request, or a batch job's burst sent all at once (each on its own thread)."""
    if len(batch) == 1:
        return [_run_one(clients, gateway, batch[0])]
    with ThreadPoolExecutor(len(batch)) as burst:
        return list(burst.map(lambda r: _run_one(clients, gateway, r), batch))


def _run_one(clients: Clients, gateway: DemoGateway, request: Request) -> Outcome:
    if request.feature.service is not None:  # another team's service, through the gateway
        try:
            sent = gateway.send(request)
        except httpx.HTTPError:
            return Outcome(request, "error")
        return Outcome(request, sent.status, sent.refused_by, sent.http_status, sent.request_id)
    try:
        send(clients, request)
    except BudgetExceeded as exc:
        return Outcome(request, "refused", f"budget {exc.budget}")
    except RateLimited as exc:
        return Outcome(request, "refused", f"rate limit {exc.rule}")
    except PolicyViolation as exc:
        return Outcome(request, "refused", f"policy: {exc}")
    except (openai.APIError, anthropic.APIError):
        return Outcome(request, "error")
    return Outcome(request, "ok")


def simulate_day(
    workdir: Path,
    *,
    calls: int = 1000,
    users: int = 60,
    workers: int = 8,
    on_progress: Callable[[Outcome, Decimal], None] | None = None,
) -> DayResult:
    """Send ``calls`` requests through costcap-wrapped SDKs and, for the services of other
    teams, through the gateway; every call of both lands in the ledger."""
    ledger_url = f"sqlite:///{workdir / 'costcap-ledger.db'}"
    store_url = f"sqlite:///{workdir / 'costcap.db'}"
    alerts: list[Alert] = []
    spend, spend_gateway = Spend(), Spend(by_request=True)
    requests = day_of_requests(calls, users)
    outcomes: list[Outcome] = []
    with run_fake_provider() as fp:
        config = write_config(workdir, fp)
        ledger = Ledger(ledger_url)
        guard = Guard.from_config(config, notifiers=[alerts.append], observers=[ledger, spend])
        # the guard holds the response cache its costcap.toml's [cache] names
        clients = Clients(guard, fp.openai_base_url, fp.anthropic_base_url)
        gateway = DemoGateway(config, store_url, ledger_url, observers=[spend_gateway],
                              notifiers=[alerts.append])  # fmt: skip
        with gateway, ThreadPoolExecutor(workers) as pool:
            batches = in_batches(requests)
            for done in pool.map(lambda b: _run_batch(clients, gateway, b), batches):
                for outcome in done:
                    outcomes.append(outcome)
                    if on_progress is not None:
                        on_progress(outcome, Decimal(spend.pico + spend_gateway.pico) / 10**12)
        # the gateway has stopped: its streams settled, its ledger writer flushed
        clients.close()
        catalog = default_catalog()
        billed = billed_cut = 0
        for served in fp.requests:
            if not served.billed:
                continue
            model = served.model or ""
            tier = price_context(catalog.resolve(model).provider, served.service_tier)
            pico = catalog.cost(
                model,
                {
                    "input_tokens": served.input_tokens,
                    "output_tokens": served.output_tokens,
                    "cache_read_tokens": served.cached_tokens,
                    "cache_write_tokens": served.cache_write_tokens,
                },
                context=tier,
            ).total_pico
            billed += pico
            # by what the user did, not by what the provider saw: a stream abandoned after
            # its last chunk reached the provider's socket looks complete to the provider
            abandoned = (served.request_key or "").startswith(ABANDONED)
            billed_cut += pico if abandoned else 0
    ledger.flush(timeout=30)
    ledger.close()
    status: list[dict[str, object]] = [dict(row) for row in guard.status()]
    guard.close()
    with Reports.open(ledger_url) as reports:  # what the ledger holds, from both writers
        recorded = reports.totals().cost_pico
    served_gateway = GatewayDay(
        gateway.base_url, gateway.keys, {f: dict(c) for f, c in gateway.statuses.items()}
    )
    # A stream its caller abandoned is cut by costcap when costcap was still reading it: always
    # through the SDKs (costcap reads in the caller's thread), not always through the gateway,
    # which reads the provider's stream on its own and may have reached its end (recorded in full,
    # as billed) before the caller hung up. So a gateway stream is counted as abandoned by what
    # its caller did, with the cost of its settled event (the one the ledger holds), found by
    # its x-costcap-request-id.
    costs = spend_gateway.by_request or {}
    abandoned_gateway = [o.request_id for o in outcomes if o.request_id and o.request.abandon]
    recorded_cut = spend.cut_pico + sum(costs.get(rid, 0) for rid in abandoned_gateway)
    return DayResult(
        outcomes, alerts, billed, recorded, spend.cut + len(abandoned_gateway), billed_cut,
        recorded_cut, config, ledger_url, store_url, status, served_gateway,
    )  # fmt: skip
