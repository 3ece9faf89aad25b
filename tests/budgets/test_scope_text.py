"""Who a call is for must be text every store can keep: a lone surrogate (which a JSON body may
carry) is refused before any store is asked, on every backend alike."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from costcap import Guard
from costcap.budgets import Budget, CallScope
from costcap.policy import PolicyViolation


@pytest.mark.parametrize("field", ["user_id", "feature", "api_key", "endpoint"])
def test_lone_surrogate_is_refused(field: str) -> None:
    """Each identity field is checked and named."""
    with pytest.raises(PolicyViolation, match=re.escape(f"{field} '\\ud800' is not valid")):
        CallScope(model="gpt-4o", **{field: "\ud800"})


def test_identity_that_is_not_text_is_refused() -> None:
    """A user id that is not a str is named, not turned into a key by an f-string."""
    with pytest.raises(PolicyViolation, match="user_id must be a str, not 5"):
        CallScope(model="gpt-4o", user_id=5)  # type: ignore[arg-type]


def test_lone_surrogate_is_refused_on_every_store(store_url: str) -> None:
    """The refusal is the same on every store (SQLite raised UnicodeEncodeError, memory let it
    through) and nothing is reserved: the user's next valid call has the whole budget."""
    guard = Guard(store_url, budgets=[Budget(scope="user:*", period="day", limit_usd=1)])
    try:
        with pytest.raises(PolicyViolation, match="not valid Unicode text"):
            guard.admit(model="gpt-4o", reserve_usd=Decimal("0.5"), user_id="al\ud800ice")
        guard.admit(model="gpt-4o", reserve_usd=Decimal("1"), user_id="alice")
    finally:
        guard.close()
