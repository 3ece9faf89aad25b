"""The README's picture of the dashboard: ``make demo`` first, then

    .venv/bin/python -m tools.dashboard_screenshot [--config build/demo/costcap.toml]
        [--out docs/img/dashboard.png]

serves ``costcap dashboard`` for the demo's costcap.toml on a free loopback port and takes a
screenshot of its page in the system's Chromium (the one the browser tests drive; nothing is
downloaded), every request to another origin refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from costcap.cli.dashboard import dashboard_app
from costcap.cli.report import ledger_url
from costcap.testing import serve_asgi

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def screenshot(config: Path, out: Path, *, width: int, height: int) -> None:
    from playwright.sync_api import Route, sync_playwright

    url, _ = ledger_url(None, config)
    app = dashboard_app(url, config, refresh=0, password=None)
    with serve_asgi(app, lifespan="on") as port, sync_playwright() as p:
        origin = f"http://127.0.0.1:{port}"

        def only_local(route: Route) -> None:
            url = urlsplit(route.request.url)
            if f"{url.scheme}://{url.netloc}" == origin:
                route.continue_()
            else:
                route.abort()

        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", only_local)
            page.goto(f"{origin}/", wait_until="networkidle")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    sys.stdout.write(f"wrote {out}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("build/demo/costcap.toml"))
    parser.add_argument("--out", type=Path, default=Path("docs/img/dashboard.png"))
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    screenshot(args.config, args.out, width=args.width, height=args.height)


if __name__ == "__main__":
    main()
