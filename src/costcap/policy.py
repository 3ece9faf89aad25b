"""Policy: every call is bounded before it leaves.

* ``max_tokens`` — injected when absent (the feature's, else the model's, else the global
  default) and, when above the cap that applies, clamped (``on_over_cap="clamp"``, the default,
  visible on the ticket) or refused (``"refuse"``);
* allow-lists — a feature (or the whole policy) may name the only models it may call;
* a per-request dollar cap — a call whose worst-case cost passes ``max_cost_usd`` is refused
  before it is sent.

Feature settings override model settings, which override the global ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from costcap._checks import count, text, usd
from costcap.errors import ConfigError, CostcapError, plain_usd

__all__ = [
    "MAX_TOKENS",
    "Bounds",
    "CostCapExceeded",
    "MaxTokensExceeded",
    "ModelNotAllowed",
    "Policy",
    "PolicyViolation",
    "Rule",
]

DEFAULT_MAX_TOKENS = 1024
#: The largest max_tokens a policy sets or a call asks for: far above any model's output limit,
#: and small enough that its worst-case cost stays countable by every store.
MAX_TOKENS = 10**9


class PolicyViolation(CostcapError):
    """The call breaks a policy rule and was not sent."""


class ModelNotAllowed(PolicyViolation):
    def __init__(self, model: str, feature: str | None, allowed: Sequence[str]) -> None:
        self.model, self.feature, self.allowed = model, feature, tuple(allowed)
        where = f"feature {feature!r}" if feature else "this policy"
        super().__init__(
            f"model {model!r} is not allowed for {where} (allowed: {', '.join(allowed)})"
        )


class MaxTokensExceeded(PolicyViolation):
    def __init__(self, requested: int, cap: int) -> None:
        self.requested, self.cap = requested, cap
        super().__init__(f"max_tokens {requested} is above the cap of {cap}")


class CostCapExceeded(PolicyViolation):
    def __init__(self, worst_case_usd: Decimal, cap_usd: Decimal) -> None:
        self.worst_case_usd, self.cap_usd = worst_case_usd, cap_usd
        super().__init__(
            f"worst-case cost ${plain_usd(worst_case_usd)} is above the per-request cap of "
            f"${plain_usd(cap_usd)}"
        )


def _check_settings(settings: Rule | Policy) -> None:
    """The settings a Rule and a Policy share; a bad one is a ConfigError naming it."""
    for name in ("default_max_tokens", "max_tokens_cap"):
        value = getattr(settings, name)
        if value is not None:
            count(value, name, most=MAX_TOKENS)
    models = settings.allowed_models
    if models is not None:
        if isinstance(models, str) or not isinstance(models, Sequence):
            raise ConfigError(f"allowed_models must be a list of model names, not {models!r}")
        for model in models:
            text(model, "allowed_models: each model")
    cap = settings.max_cost_usd
    object.__setattr__(settings, "max_cost_usd", None if cap is None else usd(cap, "max_cost_usd"))


@dataclass(frozen=True)
class Rule:
    """Settings for one feature or one model; ``None`` falls through to the next level.

    ``default_max_tokens`` and ``max_tokens_cap`` are whole numbers from 1 to ``MAX_TOKENS``
    (1,000,000,000); ``max_cost_usd`` a dollar amount (not negative); a bad one is a
    :class:`~costcap.errors.ConfigError`.
    """

    default_max_tokens: int | None = None
    max_tokens_cap: int | None = None
    allowed_models: Sequence[str] | None = None
    max_cost_usd: Decimal | int | float | str | None = None

    def __post_init__(self) -> None:
        _check_settings(self)


@dataclass(frozen=True, slots=True)
class Bounds:
    """What the policy decided for one call."""

    max_tokens: int
    requested_max_tokens: int | None
    clamped: bool
    injected: bool
    max_cost_usd: Decimal | None


@dataclass(frozen=True)
class Policy:
    """``Policy(default_max_tokens=1024, max_tokens_cap=4096, features={"chat": Rule(...)})``.

    Token settings are whole numbers from 1 to ``MAX_TOKENS`` (1,000,000,000); a bad setting is
    a :class:`~costcap.errors.ConfigError` naming it.
    """

    default_max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_cap: int | None = None
    on_over_cap: Literal["clamp", "refuse"] = "clamp"
    allowed_models: Sequence[str] | None = None
    max_cost_usd: Decimal | int | float | str | None = None
    features: Mapping[str, Rule] = field(default_factory=dict)
    models: Mapping[str, Rule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_over_cap not in ("clamp", "refuse"):
            raise ConfigError(f"on_over_cap must be 'clamp' or 'refuse', not {self.on_over_cap!r}")
        _check_settings(self)
        for name in ("features", "models"):
            rules = getattr(self, name)
            if not isinstance(rules, Mapping):
                raise ConfigError(f"{name} must be a mapping of names to Rule, not {rules!r}")
            for key, rule in rules.items():
                text(key, f"{name}: each name")
                if not isinstance(rule, Rule):
                    raise ConfigError(f"{name}[{key!r}] must be a Rule, not {rule!r}")

    def _layers(self, model: str, feature: str | None) -> list[Rule]:
        layers = []
        if feature is not None and feature in self.features:
            layers.append(self.features[feature])
        if model in self.models:
            layers.append(self.models[model])
        return layers

    def bound(
        self,
        *,
        model: str,
        feature: str | None,
        max_tokens: int | None,
        model_max_output: int | None = None,
    ) -> Bounds:
        """Decide ``max_tokens`` and the dollar cap for a call, or raise a PolicyViolation."""
        layers = self._layers(model, feature)
        allowed = next((r.allowed_models for r in layers if r.allowed_models is not None), None)
        if allowed is None:
            allowed = self.allowed_models
        if allowed is not None and model not in allowed:
            raise ModelNotAllowed(model, feature if feature in self.features else None, allowed)
        caps = [r.max_tokens_cap for r in layers if r.max_tokens_cap is not None]
        cap = min(caps) if caps else self.max_tokens_cap
        if model_max_output is not None:
            cap = model_max_output if cap is None else min(cap, model_max_output)
        default = next((r.default_max_tokens for r in layers if r.default_max_tokens), None)
        default = default or self.default_max_tokens
        injected = max_tokens is None
        chosen = default if max_tokens is None else max_tokens
        if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 < chosen <= MAX_TOKENS:
            raise PolicyViolation(
                f"max_tokens must be a positive integer up to {MAX_TOKENS:,}, not {max_tokens!r}"
            )
        clamped = False
        if cap is not None and chosen > cap:
            if not injected and self.on_over_cap == "refuse":
                raise MaxTokensExceeded(chosen, cap)
            chosen, clamped = cap, not injected
        dollar_cap = next((r.max_cost_usd for r in layers if r.max_cost_usd is not None), None)
        if dollar_cap is None:
            dollar_cap = self.max_cost_usd
        assert dollar_cap is None or isinstance(dollar_cap, Decimal)
        return Bounds(chosen, max_tokens, clamped, injected, dollar_cap)
