"""The whole routing table, assembled from the modules of each audience."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from toolkit.paths import STATIC
from toolkit.web import admin, employee, public
from toolkit.web.access import Allow
from toolkit.web.api import people


def static_mount() -> Mount:
    mount = Mount("/static", app=StaticFiles(directory=STATIC), name="static")
    mount.allow = Allow.anyone  # type: ignore[attr-defined]
    return mount


def all_routes() -> list[BaseRoute]:
    return [*public.routes, *employee.routes, *admin.routes, *people.routes, static_mount()]
