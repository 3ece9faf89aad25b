"""The store of ``store_url`` (every backend), for the tests that speak the store protocol;
backend modules define their own ``store`` on their own settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from costcap.stores import Store, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()
