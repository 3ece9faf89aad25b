"""The costcap dashboard: the ledger's reports as a web page that updates itself.

::

    from costcap.dashboard import create_dashboard_app

    app = create_dashboard_app("sqlite:///costcap-ledger.db", refresh=5)  # any ASGI server

Served by ``costcap dashboard`` at ``/`` and by the gateway at ``/dashboard/`` (behind its admin
key). Every panel is one ``costcap report`` read through :mod:`costcap.report_queries` — the same
figures as the CLI's ``--json`` for the same options, also served as JSON and CSV under
``api/NAME``. Needs ``pip install 'costcap[dashboard]'`` (Starlette and uvicorn; matplotlib for
the charts). See docs/dashboard.md.
"""

from __future__ import annotations

from costcap.dashboard._app import create_dashboard_app, no_guard_sources

__all__ = ["create_dashboard_app", "no_guard_sources"]
