"""Notifiers: where alerts go. None of them may block or break the call that fired the alert."""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from costcap.alerts._alert import Alert
from costcap.errors import ConfigError

if TYPE_CHECKING:
    import httpx

__all__ = ["CallableNotifier", "LogNotifier", "Notifier", "WebhookNotifier", "notify_all"]

log = logging.getLogger("costcap.alerts")


@runtime_checkable
class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class LogNotifier:
    """One structured (JSON) warning per alert on the ``costcap.alerts`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    def notify(self, alert: Alert) -> None:
        self._log.warning(json.dumps(alert.as_dict(), sort_keys=True))


class CallableNotifier:
    """Any ``fn(alert)`` — e.g. the seed's ``notify_team``."""

    def __init__(self, fn: Callable[[Alert], object]) -> None:
        self._fn = fn

    def notify(self, alert: Alert) -> None:
        self._fn(alert)


def _check_webhook(
    url: object, retries: object, backoff_s: object, timeout_s: object, max_queue: object
) -> None:
    """Each WebhookNotifier setting, or a ConfigError naming it."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"webhook url must be an http(s) URL, not {url!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise ConfigError(f"webhook retries must be a whole number from 0 to 100, not {retries!r}")
    for name, value, least in (("backoff_s", backoff_s, 0.0), ("timeout_s", timeout_s, 1e-3)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"webhook {name} must be a number of seconds, not {value!r}")
        if not least <= value < math.inf:
            raise ConfigError(f"webhook {name} must be a number of seconds, not {value!r}")
    if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
        raise ConfigError(f"webhook max_queue must be a whole number above 0, not {max_queue!r}")


class WebhookNotifier:
    """POSTs Slack-compatible JSON (``{"text": …, "alert": {…}}``) from a background thread.

    ``notify`` only enqueues, so a slow or dead endpoint never delays a call. Delivery is retried
    with exponential backoff (``retries`` times after the first try); a full queue or a final
    failure is logged, never raised. ``close()`` drains what is queued (up to ``timeout``).
    """

    def __init__(
        self,
        url: str,
        *,
        retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        max_queue: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # only webhook users pay for importing it

        _check_webhook(url, retries, backoff_s, timeout_s, max_queue)
        self.url = url
        self._retries, self._backoff = retries, backoff_s
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=max_queue)
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._http_error = httpx.HTTPError
        self._thread = threading.Thread(target=self._run, name="costcap-webhook", daemon=True)
        self._thread.start()
        self.delivered = 0
        self.failed = 0

    def notify(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1
            log.error("costcap webhook queue is full; alert dropped: %s", alert.message)

    def _send(self, alert: Alert) -> None:
        body = {"text": alert.message, "alert": alert.as_dict()}
        for attempt in range(self._retries + 1):
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code < 500 and response.status_code != 429:
                    if response.is_success:
                        self.delivered += 1
                    else:
                        self.failed += 1
                        log.error(
                            "webhook %s refused an alert: HTTP %s", self.url, response.status_code
                        )
                    return
            except self._http_error as exc:
                log.warning("webhook %s attempt %d failed: %s", self.url, attempt + 1, exc)
            time.sleep(self._backoff * 2**attempt)
        self.failed += 1
        log.error("webhook %s: alert not delivered after %d tries", self.url, self._retries + 1)

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                self._send(alert)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._client.close()


def notify_all(notifiers: tuple[Notifier, ...], alert: Alert) -> None:
    """Hand ``alert`` to every notifier; one failing notifier neither stops the others nor the
    call (the failure is logged with its traceback — a swallowed error would hide a dead alert)."""
    for notifier in notifiers:
        try:
            notifier.notify(alert)
        except Exception:
            log.exception("notifier %r failed for %s", notifier, alert.message)
