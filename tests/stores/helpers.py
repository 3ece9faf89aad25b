"""Helpers the store tests share."""

from __future__ import annotations

import uuid


def rid() -> str:
    """A fresh reservation id."""
    return uuid.uuid4().hex
