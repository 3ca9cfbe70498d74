"""The whole routing table, assembled from the modules of each audience."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from toolkit.paths import STATIC
from toolkit.web import admin, composer, employee, library, manage_posts, public
from toolkit.web import brand as brand_pages
from toolkit.web import crisis as crisis_pages
from toolkit.web import metrics as metrics_pages
from toolkit.web import notices as notices_pages
from toolkit.web import policy as policy_pages
from toolkit.web import share as share_pages
from toolkit.web import sharing as sharing_pages
from toolkit.web import stats as stats_pages
from toolkit.web.access import Allow
from toolkit.web.api import assets, people, posts
from toolkit.web.api import brand as brand_api
from toolkit.web.api import crisis as crisis_api
from toolkit.web.api import openapi as openapi_api
from toolkit.web.api import renditions as renditions_api
from toolkit.web.api import sharing as sharing_api
from toolkit.web.api import stats as stats_api


def static_mount() -> Mount:
    mount = Mount("/static", app=StaticFiles(directory=STATIC), name="static")
    mount.allow = Allow.anyone  # type: ignore[attr-defined]
    return mount


def all_routes() -> list[BaseRoute]:
    return [
        # Matched in order, one pattern at a time: the hottest route (cached images) goes first.
        *renditions_api.routes,
        *public.routes,
        *employee.routes,
        *composer.routes,
        *manage_posts.routes,
        *admin.routes,
        *people.routes,
        *posts.routes,
        *library.routes,
        *assets.routes,
        *policy_pages.routes,
        *crisis_pages.routes,
        *notices_pages.routes,
        *crisis_api.routes,
        *brand_api.routes,
        *brand_pages.routes,
        *share_pages.routes,
        *sharing_pages.routes,
        *stats_pages.routes,
        *sharing_api.routes,
        *stats_api.routes,
        *openapi_api.routes,
        *metrics_pages.routes,
        static_mount(),
    ]
