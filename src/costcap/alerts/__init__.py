"""Budget alerts: what fired, and where it goes."""

from __future__ import annotations

from costcap.alerts._alert import ALERT_KINDS, Alert, AlertKind
from costcap.alerts._notifiers import (
    CallableNotifier,
    LogNotifier,
    Notifier,
    WebhookNotifier,
    notify_all,
)

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertKind",
    "CallableNotifier",
    "LogNotifier",
    "Notifier",
    "WebhookNotifier",
    "notify_all",
]
