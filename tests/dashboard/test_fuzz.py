"""Hostile query strings at every route of the dashboard: whatever the parameters (names and
values of any kind, percent-encoded bytes that are not UTF-8, repeats), the answer is a page, a
fragment or JSON — a 2xx, or a 4xx saying what is wrong — never a 5xx and never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.dashboard.reference import served, written

ROUTES = ["", "panels", "api/time", "api/features", "api/users", "api/per-user", "api/models",
          "api/budgets", "api/alerts", "api/refused", "api/cache", "api/routes",
          "api/anomalies", "api/nope", "static/dashboard.js", "static/../x"]  # fmt: skip
NAMES = st.one_of(
    st.sampled_from(["since", "until", "feature", "user", "model", "granularity", "stack",
                     "format", "limit", "kind", "by-tier", "by_tier", "cascades", "key", "k",
                     "min-hour", "useful-hit-rate", "x"]),
    st.text(max_size=8),
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["", " ", "2026-12-01", "2026-02-30", "2026-12-01T10:00Z", "9999-12-31",
                     "0001-01-01", "week", "month", "hour", "csv", "json", "xml", "true", "no",
                     "-1", "0", "10001", "1e309", "NaN", "chat", "gpt-4o-mini", "(other)"]),
    st.text(max_size=12),
)  # fmt: skip
#: Raw percent-escapes too: bytes that are not UTF-8, NUL, CR LF.
RAW = st.sampled_from(["%ff", "%00", "%0d%0a", "%c3", "%", "%zz", "&&", "=", "==x"])


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(RAW))
        else:
            parts.append(f"{quote(draw(NAMES), safe='')}={quote(draw(VALUES), safe='')}")
    return "&".join(parts)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from served(written(tmp_path_factory, "fuzz"), refresh=0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(route=st.sampled_from(ROUTES), query=query_strings())
def test_hostile_queries_get_a_page_or_a_4xx(client: TestClient, route: str, query: str) -> None:
    answer = client.get(f"/{route}?{query}" if query else f"/{route}")
    where = f"GET /{route}?{query} -> {answer.status_code} {answer.text[:300]!r}"
    assert answer.status_code < 500, where
    for sign in ("Traceback", 'File "', "Internal Server Error"):
        assert sign not in answer.text, where
    if answer.status_code >= 400 and route.startswith("api/"):
        assert answer.json()["error"]["message"], where
