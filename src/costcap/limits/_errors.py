"""RateLimited: which rule, whose identity, and when to retry."""

from __future__ import annotations

from costcap.errors import CostcapError

__all__ = ["RateLimited"]


class RateLimited(CostcapError):
    """A rate limit has no room for the call; nothing was reserved anywhere.

    ``retry_after_s`` is when the call would fit again (None: the call alone is larger than the
    limit and never fits; for a concurrency limit, a short hint — a slot frees when a call ends).
    """

    def __init__(
        self,
        *,
        rule: str,
        per: str,
        identity: str,
        kind: str,
        limit: int,
        used: int,
        requested: int,
        window_s: float,
        retry_after_s: float | None,
        policy: str,
    ) -> None:
        self.rule, self.per, self.identity, self.kind = rule, per, identity, kind
        self.limit, self.used, self.requested, self.window_s = limit, used, requested, window_s
        self.retry_after_s, self.policy = retry_after_s, policy
        who = f" for {identity!r}" if identity else ""
        if retry_after_s is None:
            when = "this call alone is over the limit"
        else:
            when = f"retry after {retry_after_s:.1f} s"
        span = f" in the last {window_s:g} s" if window_s else " in flight"
        super().__init__(
            f"rate limit {rule!r}{who} reached: {used} of {limit} {_unit(kind)}{span}, "
            f"this call needs {requested}; {when}"
        )


def _unit(kind: str) -> str:
    return {"requests": "requests", "tokens": "tokens", "dollars": "micro-dollars",
            "concurrent": "calls"}[kind]  # fmt: skip
