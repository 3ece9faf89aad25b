"""The errors of virtual keys: both are :class:`~costcap.errors.CostcapError`, so the CLI turns
them into one line and exit code 2."""

from __future__ import annotations

from datetime import datetime

from costcap.errors import CostcapError

__all__ = ["KeyNotFound", "KeyRevoked"]


class KeyNotFound(CostcapError, LookupError):
    """No virtual key has this id."""

    def __init__(self, key_id: str, where: str = "") -> None:
        self.key_id, self.where = key_id, where
        place = f" in {where}" if where else ""
        super().__init__(f"no virtual key {key_id!r}{place} (costcap keys list shows them)")

    def __reduce__(self) -> tuple[type[KeyNotFound], tuple[str, str]]:
        return (type(self), (self.key_id, self.where))


class KeyRevoked(CostcapError, ValueError):
    """The key was revoked: it cannot be rotated or given a new expiry (create a new one)."""

    def __init__(self, key_id: str, revoked_at: datetime) -> None:
        self.key_id, self.revoked_at = key_id, revoked_at
        super().__init__(
            f"virtual key {key_id!r} was revoked at {revoked_at.isoformat()}: a revoked key "
            "stays revoked (create a new one with costcap keys create)"
        )

    def __reduce__(self) -> tuple[type[KeyRevoked], tuple[str, datetime]]:
        return (type(self), (self.key_id, self.revoked_at))
