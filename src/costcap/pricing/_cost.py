"""Resolved prices of one model and the exact cost of a call: pure integer arithmetic.

A price quoted in USD per million tokens, multiplied by 10⁶, is an integer number of picodollars
per token for every first-party price in genai-prices (at most six decimals per MTok). A handful of
aggregator prices in the data are float artifacts (``0.18000000000000002``); for those a
:class:`ModelPrice` carries ``scale > 0`` and its rates count units of 10⁻⁽¹²⁺ˢᶜᵃˡᵉ⁾ USD, so the
arithmetic stays exact, and the :class:`Cost` says ``exact=False`` and rounds its picodollar
fields UP (never under-count) while ``total_usd`` keeps the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from datetime import datetime
from decimal import Decimal

from costcap.errors import UsageError
from costcap.money import usd_from_pico

from ._media import MediaRates, media_amounts
from ._usage import Usage, usage_from

__all__ = ["Cost", "ModelPrice", "PriceTier"]

# (input, output or None, cache_read, cache_write, cache_write_1h) per token, in rate units.
_Rates = tuple[int, int | None, int, int, int]
# Audio and image prices in USD per million tokens, in MEDIA_PRICE_KEYS order (None: no price).
DecimalMedia = tuple[Decimal | None, ...]
# The text rates in USD per million tokens, as genai-prices and costcap.toml quote them, and the
# audio and image prices (None when the model has none).
DecimalRates = tuple[Decimal, Decimal | None, Decimal, Decimal, Decimal, DecimalMedia | None]

_MAX_SCALE = 18  # a price finer than 10⁻³⁰ USD per token is not a price


_set = object.__setattr__  # how a frozen dataclass sets its fields


@dataclass(frozen=True, slots=True, init=False)
class Cost:
    """The cost of one call. Amounts are integer picodollars (10⁻¹² USD).

    ``input_pico`` prices the uncached input tokens; ``request_pico`` is a per-request fee (rare).
    Audio and image tokens are in the input, output and cache-read amounts of their direction.
    ``exact`` is False only for a model whose data price is finer than a picodollar per token;
    then the ``*_pico`` fields are rounded up and :attr:`total_usd` is still exact.
    ``flag`` is ``"unpriced_audio"`` when audio tokens the price data has no price for were
    charged at the model's dearest token rate (see ``costcap.pricing._media``), else ``None``.
    """

    model: str
    provider: str
    input_pico: int
    output_pico: int
    cache_read_pico: int
    cache_write_pico: int
    request_pico: int
    total_pico: int
    exact: bool = True
    exact_usd: Decimal | None = field(default=None, repr=False)
    flag: str | None = None

    def __init__(  # noqa: PLR0917 - one parameter per field, as a dataclass has
        self,
        model: str,
        provider: str,
        input_pico: int,
        output_pico: int,
        cache_read_pico: int,
        cache_write_pico: int,
        request_pico: int,
        total_pico: int,
        exact: bool = True,
        exact_usd: Decimal | None = None,
        flag: str | None = None,
    ) -> None:
        # Written out (not generated) to keep it cheap: a Cost is built for every call priced.
        _set(self, "model", model)
        _set(self, "provider", provider)
        _set(self, "input_pico", input_pico)
        _set(self, "output_pico", output_pico)
        _set(self, "cache_read_pico", cache_read_pico)
        _set(self, "cache_write_pico", cache_write_pico)
        _set(self, "request_pico", request_pico)
        _set(self, "total_pico", total_pico)
        _set(self, "exact", exact)
        _set(self, "exact_usd", exact_usd)
        _set(self, "flag", flag)

    @property
    def total_usd(self) -> Decimal:
        """The exact total in USD."""
        if self.exact_usd is not None:
            return self.exact_usd
        return usd_from_pico(self.total_pico)


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Rates that apply to the whole call when its TOTAL input tokens (cache included) exceed
    ``threshold`` (strictly), e.g. Claude Sonnet 4.5 above 200,000 input tokens.

    Rates are per token in the owning :class:`ModelPrice`'s units (picodollars when ``scale == 0``).
    """

    threshold: int
    input_pico_per_token: int
    output_pico_per_token: int | None
    cache_read_pico_per_token: int
    cache_write_pico_per_token: int
    cache_write_1h_pico_per_token: int
    media: MediaRates | None = None

    def _rates(self) -> _Rates:
        return (
            self.input_pico_per_token,
            self.output_pico_per_token,
            self.cache_read_pico_per_token,
            self.cache_write_pico_per_token,
            self.cache_write_1h_pico_per_token,
        )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """The prices of one model at one provider, resolved once and then applied with int arithmetic.

    Rates are integers per token in units of 10⁻⁽¹²⁺``scale``⁾ USD: picodollars when ``scale`` is 0,
    which is the case for every first-party price. A cache price the model does not list is the
    input price (that is how genai-prices, and the provider, bill those tokens).
    ``output_pico_per_token`` is ``None`` for models without an output price (embeddings).
    ``valid_from``/``valid_until`` bound the time in which these prices hold (``None``: unbounded);
    :class:`~costcap.pricing.PriceCatalog` re-resolves a model once ``valid_until`` has passed.
    ``max_output_tokens`` is ``None`` unless configured: callers needing a worst case fail closed.
    ``media`` holds the audio and image rates of a model the price data prices them for (``None``:
    no such prices; images are then priced as text, and audio at the dearest rate, flagged).
    """

    model: str
    provider: str
    input_pico_per_token: int
    output_pico_per_token: int | None
    cache_read_pico_per_token: int
    cache_write_pico_per_token: int
    cache_write_1h_pico_per_token: int
    request_pico: int = 0
    tiers: tuple[PriceTier, ...] = ()
    scale: int = 0
    context_window: int | None = None
    max_output_tokens: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    source: str = "genai-prices"
    media: MediaRates | None = None
    _base: _Rates = field(init=False, repr=False, compare=False)
    _tiers_desc: tuple[tuple[int, _Rates], ...] = field(init=False, repr=False, compare=False)
    _expires_at: float = field(init=False, repr=False, compare=False)
    # (audio and image rates, the dearest token rate) of the base prices and of each tier
    _media_base: tuple[MediaRates | None, int] = field(init=False, repr=False, compare=False)
    _media_desc: tuple[tuple[int, tuple[MediaRates | None, int]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        base = (
            self.input_pico_per_token,
            self.output_pico_per_token,
            self.cache_read_pico_per_token,
            self.cache_write_pico_per_token,
            self.cache_write_1h_pico_per_token,
        )
        tiers = tuple(sorted(self.tiers, key=lambda tier: tier.threshold))
        object.__setattr__(self, "tiers", tiers)
        object.__setattr__(self, "_base", base)
        desc = tuple((tier.threshold, tier._rates()) for tier in reversed(tiers))
        object.__setattr__(self, "_tiers_desc", desc)
        expires = self.valid_until.timestamp() if self.valid_until is not None else math.inf
        object.__setattr__(self, "_expires_at", expires)
        object.__setattr__(self, "_media_base", _with_dearest(self.media, base))
        media_desc = tuple(
            (tier.threshold, _with_dearest(tier.media, tier._rates())) for tier in reversed(tiers)
        )
        object.__setattr__(self, "_media_desc", media_desc)

    def usd_per_mtok(self, rate: int | None) -> Decimal | None:
        """A rate of this model (e.g. ``price.input_pico_per_token``) in USD per million tokens."""
        return None if rate is None else Decimal(rate).scaleb(-6 - self.scale).normalize()

    def _rates_for(self, total_in: int) -> _Rates:
        for threshold, tier_rates in self._tiers_desc:
            if total_in > threshold:
                return tier_rates
        return self._base

    def _no_output(self, output_tokens: int) -> int:
        """The output rate of a model without one (an embedding model): 0 for no output."""
        if output_tokens:
            raise UsageError(
                f"{self.model} has no output price (an embedding model?) but the usage "
                f"reports {output_tokens} output tokens"
            )
        return 0

    def total_pico(self, input_tokens: int, output_tokens: int, cache_write: int = 0) -> int:
        """``cost(Usage(input_tokens, output_tokens, cache_write_tokens=cache_write)).total_pico``
        without building either object (the worst case priced on every admission). Cache writes
        are priced at the dearer of the 5-minute and 1-hour rates."""
        r_in, r_out, _, r_write, r_write_1h = self._rates_for(input_tokens)
        if r_out is None:
            r_out = self._no_output(output_tokens)
        total = (
            (input_tokens - cache_write) * r_in
            + output_tokens * r_out
            + cache_write * max(r_write, r_write_1h)
            + self.request_pico
        )
        return -(-total // 10**self.scale) if self.scale else total

    def cost(self, usage: object) -> Cost:
        """The exact cost of ``usage`` (a :class:`Usage` or anything :func:`usage_from` reads)."""
        u = usage if type(usage) is Usage else usage_from(usage)
        if u._media is not None:  # audio or image tokens
            return self._media_cost(u)
        total_in = u.input_tokens
        r_in, r_out, r_read, r_write, r_write_1h = self._rates_for(total_in)
        read = u.cache_read_tokens
        write = u.cache_write_tokens
        write_1h = u.cache_write_1h_tokens
        if r_out is None:
            r_out = self._no_output(u.output_tokens)
        input_p = (total_in - read - write) * r_in
        output_p = u.output_tokens * r_out
        read_p = read * r_read
        write_p = (write - write_1h) * r_write + write_1h * r_write_1h
        total = input_p + output_p + read_p + write_p + self.request_pico
        if self.scale:
            return self._inexact(input_p, output_p, read_p, write_p, total)
        return Cost(
            self.model,
            self.provider,
            input_p,
            output_p,
            read_p,
            write_p,
            self.request_pico,
            total,
        )

    def _media_for(self, total_in: int) -> tuple[MediaRates | None, int]:
        """The audio and image rates at ``total_in`` input tokens, and the dearest token rate."""
        for threshold, media in self._media_desc:
            if total_in > threshold:
                return media
        return self._media_base

    def _media_cost(self, u: Usage) -> Cost:
        """The cost of a usage with audio or image tokens (see ``costcap.pricing._media``)."""
        r_in, r_out, r_read, r_write, r_write_1h = self._rates_for(u.input_tokens)
        if r_out is None:
            r_out = self._no_output(u.output_tokens)
        media, dearest = self._media_for(u.input_tokens)
        input_p, output_p, read_p, flag = media_amounts(u, (r_in, r_out, r_read), media, dearest)
        write_1h = u.cache_write_1h_tokens
        write_p = (u.cache_write_tokens - write_1h) * r_write + write_1h * r_write_1h
        total = input_p + output_p + read_p + write_p + self.request_pico
        if self.scale:
            return self._inexact(input_p, output_p, read_p, write_p, total, flag=flag)
        return Cost(self.model, self.provider, input_p, output_p, read_p, write_p,
                    self.request_pico, total, flag=flag)  # fmt: skip

    def _inexact(
        self, input_p: int, output_p: int, read_p: int, write_p: int, total: int, *,
        flag: str | None = None,
    ) -> Cost:  # fmt: skip
        unit: int = 10**self.scale

        def up(amount: int) -> int:
            return -(-amount // unit)

        return Cost(
            self.model,
            self.provider,
            up(input_p),
            up(output_p),
            up(read_p),
            up(write_p),
            up(self.request_pico),
            up(total),
            exact=total % unit == 0,
            exact_usd=Decimal(total).scaleb(-12 - self.scale),
            flag=flag,
        )


def _with_dearest(media: MediaRates | None, rates: _Rates) -> tuple[MediaRates | None, int]:
    """``media`` and the dearest of every token rate, text and media."""
    known = [r for r in rates if r is not None]
    if media is not None:
        known += [r for r in astuple(media) if r is not None]
    return media, max(known)


def _decimals_needed(price: Decimal, shift: int) -> int:
    """How many decimal places ``price × 10**shift`` has (0 when it is an integer)."""
    exponent = price.scaleb(shift).normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    return max(0, -exponent)


def price_from_usd(
    *,
    model: str,
    provider: str,
    base: DecimalRates,
    tiers: Sequence[tuple[int, DecimalRates]] = (),
    request_usd_per_k: Decimal | None = None,
    context_window: int | None = None,
    max_output_tokens: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    source: str = "genai-prices",
) -> ModelPrice:
    """Build a :class:`ModelPrice` from USD-per-MTok prices (and USD per 1,000 requests), exactly.

    Picks the smallest ``scale`` at which every rate is an integer; raises ``ValueError`` for a
    price finer than 10⁻³⁰ USD per token.
    """
    all_rates = [base, *(rates for _, rates in tiers)]
    token_prices = [
        p for rates in all_rates for p in (*rates[:5], *(rates[5] or ())) if p is not None
    ]
    scale = max((_decimals_needed(p, 6) for p in token_prices), default=0)
    if request_usd_per_k is not None:
        scale = max(scale, _decimals_needed(request_usd_per_k, 9))
    if scale > _MAX_SCALE:
        raise ValueError("a price is finer than 10^-30 USD per token")

    def rate(price: Decimal) -> int:
        return int(price.scaleb(6 + scale))

    def convert(rates: DecimalRates) -> tuple[int, int | None, int, int, int]:
        r_in, r_out, r_read, r_write, r_write_1h, _ = rates
        out = None if r_out is None else rate(r_out)
        return rate(r_in), out, rate(r_read), rate(r_write), rate(r_write_1h)

    def media(rates: DecimalRates) -> MediaRates | None:
        prices = rates[5]
        if prices is None or all(p is None for p in prices):
            return None
        return MediaRates(*(None if p is None else rate(p) for p in prices))

    b_in, b_out, b_read, b_write, b_write_1h = convert(base)
    return ModelPrice(
        model,
        provider,
        b_in,
        b_out,
        b_read,
        b_write,
        b_write_1h,
        request_pico=0 if request_usd_per_k is None else int(request_usd_per_k.scaleb(9 + scale)),
        tiers=tuple(
            PriceTier(threshold, *convert(rates), media=media(rates)) for threshold, rates in tiers
        ),
        scale=scale,
        context_window=context_window,
        max_output_tokens=max_output_tokens,
        valid_from=valid_from,
        valid_until=valid_until,
        source=source,
        media=media(base),
    )
