"""The dashboard works offline: its script and style come from the package, and neither the
page nor they name another origin (no CDN, no web font, not even a namespace URI); every URL
is relative, so the page works at / and under the gateway's /dashboard/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from costcap.dashboard._app import STATIC
from tests.dashboard.reference import served, written

_LINK = re.compile(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)["']""", re.I)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from served(written(tmp_path_factory, "offline"))


def test_the_page_links_only_relative_urls(client: TestClient) -> None:
    page = client.get("/").text
    links = _LINK.findall(page)
    assert "static/dashboard.js" in links
    assert "static/dashboard.css" in links
    for link in links:
        assert not link.startswith("/"), link
        assert "//" not in link, link


@pytest.mark.parametrize("path", ["/", "/panels", "/static/dashboard.js", "/static/dashboard.css"])
def test_nothing_names_another_origin(client: TestClient, path: str) -> None:
    body = client.get(path).text
    assert "http://" not in body
    assert "https://" not in body
    assert "@import" not in body
    assert "@font-face" not in body


def test_the_script_and_style_are_served_from_the_package(client: TestClient) -> None:
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert response.content == (STATIC / name).read_bytes()


def test_the_script_fetches_relative_urls_only(client: TestClient) -> None:
    script = client.get("/static/dashboard.js").text
    assert re.findall(r"fetch\(\s*([^,]+),", script) == ['"panels" + window.location.search']


def test_the_browser_is_told_to_load_nothing_from_elsewhere(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


def test_charts_are_inline_svg_with_their_own_ids(client: TestClient) -> None:
    page = client.get("/").text
    assert page.count("<svg") == 2
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # two charts never share an id
    for target in re.findall(r'href="#([^"]+)"', page):
        assert target in ids
