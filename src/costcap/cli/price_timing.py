"""When calls are priced, for commands that price a workload (``estimate``) or show prices
(``prices``): an instant (``--at``), or a day's price windows weighted by a traffic profile
(``--profile``, ``--timezone``, or the ``[estimate]`` table of costcap.toml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from costcap._toml import read_toml
from costcap.cli.options import config_path
from costcap.errors import ConfigError
from costcap.traffic import UNIFORM, TrafficProfile, parse_timezone, profile_from

__all__ = [
    "At",
    "PriceTiming",
    "Profile",
    "Timezone",
    "at_or_now",
    "hours_text",
    "now",
    "parse_at",
    "price_timing",
    "span_text",
]

At = Annotated[
    str | None,
    typer.Option(
        help="Price at this ISO datetime (UTC unless it has an offset), e.g. 2026-03-05T14:00Z."
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        help="Traffic by hour of day: uniform (default), business-hours (09-17), "
        "or 24 comma-separated weights for hours 0-23."
    ),
]
Timezone = Annotated[
    str | None,
    typer.Option(help="Time zone of the --profile hours: UTC (default), Europe/Paris, +05:30."),
]

_SETTINGS_KEYS = ("profile", "timezone")
# --at walks the price windows of its day and the next: keep clear of datetime's own ends.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)


def now() -> datetime:
    """The instant a command runs (tests replace it)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PriceTiming:
    """Either ``at`` (one instant) or ``profile`` over ``day`` (a day of its zone)."""

    profile: TrafficProfile
    day: date
    at: datetime | None = None


def parse_at(text: str | None, *, name: str = "--at") -> datetime | None:
    """An ISO datetime with a time (UTC unless it has an offset), or a BadParameter."""
    if text is None:
        return None
    value = text.strip()
    example = "an ISO datetime such as 2026-03-05T14:00Z"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not {example}", param_hint=name) from None
    if len(value) <= 10:  # a date alone is a day, not an instant
        raise typer.BadParameter(f"{text!r} is a date; give {example}", param_hint=name)
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not _EARLIEST <= moment <= _LATEST:
        raise typer.BadParameter(
            f"{text!r} is out of range (0001-01-03 … 9999-12-29)", param_hint=name
        )
    return moment


def at_or_now(text: str | None) -> datetime:
    """``--at`` when given, else the instant the command runs."""
    return parse_at(text) or now()


def price_timing(
    *, at: str | None, profile: str | None, timezone: str | None, config: Path | None
) -> PriceTiming:
    """The options, over the ``[estimate]`` table of costcap.toml, over uniform traffic in UTC.

    ``--at`` cannot be combined with ``--profile`` or ``--timezone`` (it prices one instant);
    the file's profile is then not used.
    """
    instant = parse_at(at)
    if instant is not None:
        for given, hint in ((profile, "--profile"), (timezone, "--timezone")):
            if given is not None:
                raise typer.BadParameter(
                    "cannot be combined with --at (which prices every call at one instant)",
                    param_hint=hint,
                )
        return PriceTiming(UNIFORM, instant.astimezone(UTC).date(), instant)
    settings, source = _settings(config)
    zone = timezone if timezone is not None else settings.get("timezone")
    try:
        tz = UTC if zone is None else parse_timezone(zone)
    except ValueError as exc:
        if timezone is None:
            raise ConfigError(f"{source}: estimate.timezone: {exc}") from None
        raise typer.BadParameter(str(exc), param_hint="--timezone") from None
    shape = profile if profile is not None else settings.get("profile", "uniform")
    try:
        chosen = profile_from(shape, timezone=tz)
    except ValueError as exc:
        if profile is None:
            raise ConfigError(f"{source}: estimate.profile: {exc}") from None
        raise typer.BadParameter(str(exc), param_hint="--profile") from None
    return PriceTiming(chosen, now().astimezone(tz).date())


def _settings(config: Path | None) -> tuple[Mapping[str, Any], str]:
    """The ``[estimate]`` table of costcap.toml (``{}`` without a file or a table), checked,
    and the file's name."""
    path = config_path(config)
    if path is None:
        return {}, ""
    table = read_toml(path, parse_float=Decimal).get("estimate", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: estimate: must be a table with profile and timezone")
    for key, value in table.items():
        if key not in _SETTINGS_KEYS:
            raise ConfigError(
                f"{path}: estimate.{key}: unknown key (expected one of {', '.join(_SETTINGS_KEYS)})"
            )
        if key == "timezone" and not isinstance(value, str):
            raise ConfigError(f"{path}: estimate.timezone: must be a string, got {value!r}")
        if key == "profile" and not isinstance(value, str | list):
            raise ConfigError(
                f"{path}: estimate.profile: must be a name or a list of 24 weights, got {value!r}"
            )
    return table, str(path)


def hours_text(hours: tuple[tuple[time, time], ...]) -> str:
    """``00:30–16:30 UTC``, ``01:00–04:00, 06:00–10:00 UTC``, or ``all day``."""
    if hours == ((time(0), time(0)),):
        return "all day"
    if not hours:  # an instant's prices that no window of its day has (data changed meanwhile)
        return "unlisted"
    return ", ".join(span_text(span) for span in hours) + " UTC"


def span_text(span: tuple[time, time]) -> str:
    """``16:30–00:30``: UTC times of day, the end excluded."""
    return f"{span[0]:%H:%M}–{span[1]:%H:%M}"
