"""The admin API under ``/admin``, behind the admin key."""

from __future__ import annotations

from starlette.routing import BaseRoute

from costcap.gateway._app import GatewayState

__all__ = ["admin_routes"]


def admin_routes(state: GatewayState) -> list[BaseRoute]:
    del state
    return []
