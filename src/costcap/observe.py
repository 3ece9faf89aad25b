"""Observers: what the Guard tells about every call, for the ledger, metrics and traces.

An observer is any object with ``on_event(event)``; it may also have
``on_admission(seconds, outcome)`` (outcome: ``admitted``, ``budget``, ``rate_limit``,
``policy``, ``store_unavailable``) and ``on_in_flight(call)`` (a call admitted, or its lease
renewed: the ledger keeps it until the call's event arrives) and ``on_alert(alert, at)`` (an
alert the Guard sent to its notifiers, ``at`` by the Guard's clock: the ledger keeps a history
of them). The Guard calls them in order,
in the calling thread, after
the store step; an observer that raises is logged and never breaks the call (a broken metrics
exporter must not refuse paid traffic). The ledger is the exception that matters: its
``on_event`` only appends to a local spool file, so it is cheap and does not fail for a
database outage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from costcap.ledger import CostEvent, InFlight

if TYPE_CHECKING:
    from datetime import datetime

    from costcap.alerts import Alert

__all__ = [
    "AdmissionObserver",
    "AlertObserver",
    "InFlightObserver",
    "Observer",
    "notify_admission",
    "notify_alert",
    "notify_event",
    "notify_in_flight",
]

log = logging.getLogger("costcap.observe")


@runtime_checkable
class Observer(Protocol):
    def on_event(self, event: CostEvent) -> None: ...


@runtime_checkable
class AdmissionObserver(Protocol):
    def on_admission(self, seconds: float, outcome: str) -> None: ...


@runtime_checkable
class InFlightObserver(Protocol):
    def on_in_flight(self, call: InFlight) -> None: ...


@runtime_checkable
class AlertObserver(Protocol):
    def on_alert(self, alert: Alert, at: datetime) -> None: ...


def notify_event(observers: Sequence[Observer], event: CostEvent) -> None:
    for observer in observers:
        try:
            observer.on_event(event)
        except Exception:  # an observer must not break a paid call; logged loudly
            log.exception("observer %r failed on event %s", observer, event.request_id)


def notify_in_flight(observers: Sequence[InFlightObserver], call: InFlight) -> None:
    for observer in observers:
        try:
            observer.on_in_flight(call)
        except Exception:  # as above
            log.exception("observer %r failed on call %s in flight", observer, call.request_id)


def notify_admission(observers: Sequence[AdmissionObserver], seconds: float, outcome: str) -> None:
    for observer in observers:
        try:
            observer.on_admission(seconds, outcome)
        except Exception:  # as above
            log.exception("observer %r failed on admission", observer)


def notify_alert(observers: Sequence[AlertObserver], alert: Alert, at: datetime) -> None:
    """Tell ``observers`` (the ledger) that ``alert`` fired at ``at``: the one place every alert
    a Guard sends is recorded — its own, pacing's and anomalies' (they fire through
    ``Guard.fired``). A failure is logged, never raised: the alert went to its notifiers, and
    the call that fired it goes on."""
    for observer in observers:
        try:
            observer.on_alert(alert, at)
        except Exception:  # as above
            log.exception("observer %r failed to record alert %s", observer, alert.message)
