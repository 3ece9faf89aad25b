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
import openai

from costcap.alerts import Alert
from costcap.demo._providers import ABANDONED, Clients, send
from costcap.demo._traffic import Request, day_of_requests
from costcap.errors import BudgetExceeded
from costcap.guard import Guard
from costcap.ledger import CostEvent, Ledger
from costcap.limits import RateLimited
from costcap.policy import PolicyViolation
from costcap.pricing import default_catalog
from costcap.service_tiers import price_context
from costcap.testing import run_fake_provider

__all__ = ["DayResult", "Outcome", "simulate_day", "write_config"]

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
"""


def write_config(workdir: Path) -> Path:
    path = workdir / "costcap.toml"
    path.write_text(CONFIG.format(db=workdir / "costcap.db", ledger=workdir / "costcap-ledger.db",
                                  cache=workdir / "costcap-cache.db"))  # fmt: skip
    return path


@dataclass(frozen=True, slots=True)
class Outcome:
    request: Request
    status: Literal["ok", "refused", "error"]
    refused_by: str = ""


class Spend:
    """A Guard observer keeping the running spend for the progress bar."""

    def __init__(self) -> None:
        self.pico = 0
        self.cut = 0
        self.cut_pico = 0
        self._lock = threading.Lock()

    def on_event(self, event: CostEvent) -> None:
        with self._lock:
            self.pico += event.cost_pico
            if event.status == "cut":
                self.cut += 1
                self.cut_pico += event.cost_pico


@dataclass
class DayResult:
    outcomes: list[Outcome]
    alerts: list[Alert]
    provider_billed_pico: int
    recorded_pico: int
    cut_streams: int
    billed_cut_pico: int  # what the provider billed for the streams users abandoned
    recorded_cut_pico: int
    config: Path
    ledger_url: str
    store_url: str
    budgets: list[dict[str, object]] = field(default_factory=list)


def _run_one(clients: Clients, request: Request) -> Outcome:
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
    """Send ``calls`` requests through costcap-wrapped SDKs; every call lands in the ledger."""
    config = write_config(workdir)
    ledger_url = f"sqlite:///{workdir / 'costcap-ledger.db'}"
    alerts: list[Alert] = []
    spend = Spend()
    ledger = Ledger(ledger_url)
    guard = Guard.from_config(config, notifiers=[alerts.append], observers=[ledger, spend])
    requests = day_of_requests(calls, users)
    outcomes: list[Outcome] = []
    with run_fake_provider() as fp:
        # the guard holds the response cache its costcap.toml's [cache] names
        clients = Clients(guard, fp.openai_base_url, fp.anthropic_base_url)
        with ThreadPoolExecutor(workers) as pool:
            for outcome in pool.map(lambda r: _run_one(clients, r), requests):
                outcomes.append(outcome)
                if on_progress is not None:
                    on_progress(outcome, Decimal(spend.pico) / 10**12)
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
    store_url = f"sqlite:///{workdir / 'costcap.db'}"
    return DayResult(
        outcomes, alerts, billed, spend.pico, spend.cut, billed_cut, spend.cut_pico,
        config, ledger_url, store_url, status,
    )  # fmt: skip
