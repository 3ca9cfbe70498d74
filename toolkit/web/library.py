"""The image library pages: marketing uploads, curates and tags; employees browse what they may use.

Everything is server-rendered and works without JavaScript (one file per form upload, numeric focal
point); library.js adds drag-and-drop uploads of many files with progress, and focal point clicks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response

from toolkit.asset_fields import STATUSES
from toolkit.assets import EXPIRING_DAYS, Asset, today
from toolkit.errors import N_, Conflict, Invalid, NotFound, ToolkitError
from toolkit.i18n import gettext
from toolkit.imaging.inspect import SUPPORTED_TYPES
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.assets import store_upload
from toolkit.web.forms import form_fields, form_lists, safe_next, see_other
from toolkit.web.templating import render

PER_PAGE = 48
FORM_FIELDS = (
    "title",
    "description",
    "alt_text",
    "tags",
    "status",
    "focal_x",
    "focal_y",
    "source",
    "licence",
    "rights_expires",
    "shows_people",
    "consent_expires",
)


def _url(params: Sequence[tuple[str, str]]) -> str:
    query = urlencode([(k, v) for k, v in params if v])
    return "/library" + (f"?{query}" if query else "")


def _library(
    request: Request,
    params: ImmutableMultiDict[str, str] | Mapping[str, str],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    user = require_user(request)
    # Employees see the crisis message instead of images to download while sharing is paused.
    portal_of(request).crisis.ensure_calm_for(user)
    assets = portal_of(request).assets
    multi = params if isinstance(params, ImmutableMultiDict) else ImmutableMultiDict(params)
    q = multi.get("q", "").strip()
    tags = [t for t in multi.getlist("tag") if t]
    state = multi.get("status", "") if user.is_marketing else ""
    expiring = multi.get("expiring", "") == "1" and user.is_marketing
    try:
        page = max(1, int(multi.get("page", "1")))
    except ValueError:
        page = 1
    try:
        result = assets.search(
            user, q=q, tags=tags, status=state or None, expiring=expiring, page=page, per_page=PER_PAGE
        )
    except Invalid:
        result = assets.search(user, q=q, page=page, per_page=PER_PAGE)
        tags, state = [], ""
    base = [("q", q), *[("tag", t) for t in tags], ("status", state), ("expiring", "1" if expiring else "")]
    facets = [
        {
            "tag": tag,
            "count": count,
            "selected": tag in tags,
            "url": _url([p for p in base if p != ("tag", tag)] if tag in tags else [*base, ("tag", tag)]),
        }
        for tag, count in result.tag_counts[:40]
    ]
    context: dict[str, Any] = {
        "result": result,
        "q": q,
        "selected_tags": tags,
        "status": state,
        "expiring": expiring,
        "statuses": STATUSES,
        "facets": facets,
        "here": _url([*base, ("page", str(result.page) if result.page > 1 else "")]),
        "prev_url": _url([*base, ("page", str(result.page - 1))]) if result.page > 1 else None,
        "next_url": _url([*base, ("page", str(result.page + 1))]) if result.page < result.pages else None,
        "clear_url": "/library",
        "error": error,
        "changed": multi.get("changed"),
        "purged": multi.get("purged") == "1",
        "today": today(),
    }
    if user.is_marketing:
        settings = portal_of(request).settings
        context |= {
            "notices": assets.expiry_report(),
            "expiring_days": EXPIRING_DAYS,
            "max_upload_mb": settings.max_upload_mb,
            "accept": ",".join(SUPPORTED_TYPES),
        }
        return render(request, "marketing/library.html", context, status=status)
    return render(request, "employee/library.html", context, status=status)


async def library_page(request: Request) -> Response:
    return _library(request, request.query_params)


async def upload(request: Request) -> Response:
    """The form upload (one file, no JavaScript); library.js posts to the API instead."""
    user = require_user(request)
    try:
        asset, duplicate = await store_upload(request, user)
    except ToolkitError as exc:
        if exc.status in (401, 403) or exc.status >= 500:
            raise
        return _library(request, {}, error=exc.text(gettext), status=exc.status)
    return see_other(f"/library/{asset.id}?{'duplicate' if duplicate else 'added'}=1")


def _back_params(next_url: str) -> ImmutableMultiDict[str, str]:
    return ImmutableMultiDict(parse_qsl(urlsplit(next_url).query))


async def bulk(request: Request) -> Response:
    user = require_user(request)
    fields = await form_lists(request)
    next_url = safe_next((fields.get("next") or [""])[0], "/library")
    if not next_url.startswith("/library"):
        next_url = "/library"
    action = (fields.get("action") or [""])[0]
    tags = (fields.get("tags") or [""])[0]
    ids = fields.get("ids", [])
    assets = portal_of(request).assets
    try:
        changed = await run_in_threadpool(lambda: assets.bulk(ids, action, actor=user, tags=tags))
    except (Invalid, NotFound, Conflict) as exc:
        return _library(request, _back_params(next_url), error=exc.text(gettext), status=exc.status)
    params = [(k, v) for k, v in parse_qsl(urlsplit(next_url).query) if k not in ("changed", "page")]
    return see_other(_url([*params, ("changed", str(changed))]))


def _form_values(asset: Asset) -> dict[str, Any]:
    return {
        "title": asset.title,
        "description": asset.description,
        "alt_text": asset.alt_text,
        "tags": ", ".join(asset.tags),
        "status": asset.status,
        "focal_x": f"{asset.focal[0]:g}" if asset.focal else "",
        "focal_y": f"{asset.focal[1]:g}" if asset.focal else "",
        "source": asset.source,
        "licence": asset.licence,
        "rights_expires": asset.rights_expires or "",
        "shows_people": asset.shows_people,
        "consent_expires": asset.consent_expires or "",
        "version": asset.version,
    }


def _asset_page(
    request: Request,
    asset: Asset,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    user = require_user(request)
    assets = portal_of(request).assets
    params = request.query_params
    context: dict[str, Any] = {
        "asset": asset,
        "error": error,
        "saved": params.get("saved") == "1",
        "added": params.get("added") == "1",
        "duplicate": params.get("duplicate") == "1",
    }
    if not user.is_marketing:
        return render(request, "employee/asset.html", context, status=status)
    context |= {
        "form": values or _form_values(asset),
        "statuses": STATUSES,
        "used_in": assets.where_used(asset.id),
        "notices": [n for n in assets.expiry_report() if n.asset.id == asset.id],
        "usable": asset.usable_on(today()),
        "uploader": portal_of(request).accounts.get(asset.created_by) if asset.created_by else None,
        "is_watermark": portal_of(request).brand.current().watermark_asset_id == asset.id,
    }
    return render(request, "marketing/asset.html", context, status=status)


async def asset_page(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm_for(user)
    asset = portal.assets.visible(user, request.path_params["asset_id"])
    return _asset_page(request, asset)


def _changes(fields: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {
        key: fields.get(key, "")
        for key in ("title", "description", "alt_text", "tags", "status", "source", "licence")
    }
    changes["rights_expires"] = fields.get("rights_expires", "")
    changes["consent_expires"] = fields.get("consent_expires", "")
    changes["shows_people"] = fields.get("shows_people") == "on"
    x, y = fields.get("focal_x", "").strip(), fields.get("focal_y", "").strip()
    if x or y:
        try:
            changes["focal"] = [float(x.replace(",", ".")), float(y.replace(",", "."))]
        except ValueError:
            raise Invalid(N_("The focal point must be two numbers between 0 and 1 (x, y).")) from None
    else:
        changes["focal"] = None
    return changes


async def save_asset(request: Request) -> Response:
    user = require_user(request)
    assets = portal_of(request).assets
    asset = assets.require(request.path_params["asset_id"])
    fields = await form_fields(request)
    try:
        changes = _changes(fields)
        await run_in_threadpool(
            lambda: assets.update(asset.id, changes, actor=user, version=fields.get("version") or None)
        )
    except (Invalid, Conflict) as exc:
        values = {k: fields.get(k, "") for k in FORM_FIELDS} | {
            "shows_people": fields.get("shows_people") == "on",
            "version": fields.get("version", ""),
        }
        return _asset_page(request, asset, values=values, error=exc.text(gettext), status=exc.status)
    return see_other(f"/library/{asset.id}?saved=1")


async def purge(request: Request) -> Response:
    user = require_user(request)
    assets = portal_of(request).assets
    asset = assets.require(request.path_params["asset_id"])
    try:
        await run_in_threadpool(lambda: assets.purge(asset.id, actor=user))
    except Conflict as exc:
        return _asset_page(request, asset, error=exc.text(gettext), status=exc.status)
    return see_other("/library?purged=1")


routes = [
    route("/library", library_page, allow=Allow.employee),
    route(
        "/library/upload",
        upload,
        allow=Allow.marketing,
        methods=["POST"],
        name="library_upload",
        streams_body=True,
    ),
    route("/library/bulk", bulk, allow=Allow.marketing, methods=["POST"], name="library_bulk"),
    route("/library/{asset_id}", asset_page, allow=Allow.employee),
    route("/library/{asset_id}", save_asset, allow=Allow.marketing, methods=["POST"], name="save_asset"),
    route("/library/{asset_id}/purge", purge, allow=Allow.marketing, methods=["POST"], name="purge_asset"),
]
