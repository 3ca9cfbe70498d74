"""/api/v1/presets and /api/v1/assets/{id}/render: share-ready images over HTTP.

A rendition's ETag is its key, which changes whenever anything that shapes it changes (asset,
brand settings, qualities). Pages link to versioned URLs (v=<key>, made by rendition_url) that
browsers may keep for a year; a URL without the current key is revalidated on every use, so a
brand change is never hidden behind a cached image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import User
from toolkit.assets import Asset
from toolkit.errors import N_, Invalid
from toolkit.i18n import gettext
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS, get_preset
from toolkit.portal import Portal
from toolkit.renditions import EXTENSIONS, RenditionResult, check_format
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response

IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
LOW_RESOLUTION_HEADER = "x-low-resolution"
_FORMAT_ALIASES = {"jpg": "jpeg"}


def render_path(asset_id: str) -> str:
    return f"/api/v1/assets/{asset_id}/render"


def rendition_url(
    portal: Portal,
    asset: Asset | str,
    preset: str = DEFAULT_PRESET,
    fmt: str = "jpeg",
    watermark: bool = True,
) -> str:
    """The versioned (cacheable for a year) URL of a rendition; unversioned when it cannot be keyed.

    asset may be an Asset or an asset id (as posts hold it).
    """
    found = portal.assets.get(asset) if isinstance(asset, str) else asset
    asset_id = asset if isinstance(asset, str) else asset.id
    query = {"preset": preset, "format": fmt, "watermark": "1" if watermark else "0"}
    if found is not None:
        try:
            query["v"] = portal.renditions.key(found, preset, fmt, watermark=watermark)
        except Invalid:
            pass  # an unknown preset or format: the endpoint answers with the reason
    return f"{render_path(asset_id)}?{urlencode(query)}"


@jinja2.pass_context
def rendition_url_global(
    context: Any,
    asset: Asset | str,
    preset: str = DEFAULT_PRESET,
    fmt: str = "jpeg",
    watermark: bool = True,
) -> str:
    """rendition_url for templates: {{ rendition_url(asset_or_id, preset, "jpeg", True) }}."""
    portal: Portal | None = context.get("portal")
    if portal is None:
        asset_id = asset if isinstance(asset, str) else asset.id
        return f"{render_path(asset_id)}?{urlencode({'preset': preset, 'format': fmt})}"
    return rendition_url(portal, asset, preset, fmt, watermark)


def image_format(raw: str | None) -> str:
    fmt = (raw or "jpeg").strip().lower()
    return check_format(_FORMAT_ALIASES.get(fmt, fmt))


def watermark_flag(raw: str | None) -> bool:
    if raw in (None, "", "1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise Invalid(N_("watermark must be 1 or 0."))


def ensure_may_download(portal: Portal, user: User) -> None:
    """While crisis mode is on only marketing and admins get images (they check what is out there)."""
    crisis = getattr(portal, "crisis", None)
    if crisis is not None and not user.is_marketing:
        crisis.ensure_calm()


def image_headers(result: RenditionResult, *, cache_control: str, disposition: str) -> dict[str, str]:
    headers = {"cache-control": cache_control, "content-disposition": disposition}
    if result.etag:
        headers["etag"] = f'"{result.etag}"'
    if result.low_resolution:
        headers[LOW_RESOLUTION_HEADER] = "1"
    return headers


def filename(asset: Asset, preset: str, fmt: str) -> str:
    return _filename(asset.title, preset, fmt)


@lru_cache(maxsize=4096)
def _filename(title: str, preset: str, fmt: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:60] or "image"
    return f"{stem}-{preset}.{EXTENSIONS[fmt]}"


@lru_cache(maxsize=4096)
def query_of(raw: bytes) -> Mapping[str, str]:
    """The query string's parameters (the last of repeated ones), parsed once per distinct URL:
    image URLs are few and asked for again and again."""
    return MappingProxyType(dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)))


def not_modified(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match")
    if not sent:
        return False
    tags = [tag.strip() for tag in sent.split(",")]
    return sent.strip() == "*" or etag in tags or f"W/{etag}" in tags


async def presets(request: Request) -> Response:
    items = [
        {
            "name": p.name,
            "width": p.width,
            "height": p.height,
            "network": p.network,
            "label": gettext(p.label),
        }
        for p in PRESETS.values()
    ]
    return json_response({"items": items, "default": DEFAULT_PRESET})


async def render_image(request: Request) -> Response:
    """The share-ready image: ?preset=NAME&format=jpeg|png|webp&watermark=1|0[&download=1][&v=KEY]."""
    user = require_user(request)
    portal = portal_of(request)
    ensure_may_download(portal, user)
    asset = portal.assets.visible(user, request.path_params["asset_id"])
    params = query_of(request.scope["query_string"])
    preset = get_preset(params.get("preset") or DEFAULT_PRESET)
    fmt = image_format(params.get("format"))
    watermark = watermark_flag(params.get("watermark"))
    key = portal.renditions.key(asset, preset, fmt, watermark=watermark)
    cache_control = IMMUTABLE if params.get("v") == key else REVALIDATE
    if not_modified(request, f'"{key}"'):
        return Response(status_code=304, headers={"etag": f'"{key}"', "cache-control": cache_control})
    # The hot path: a rendition in memory is answered on the event loop, without a thread hop.
    result = portal.renditions.peek(key)
    if result is None:
        result = await run_in_threadpool(
            lambda: portal.renditions.render(asset, preset, fmt, watermark=watermark)
        )
        if result.etag != key:
            # The brand changed while this was made: the bytes are the newer ones, not those of v.
            cache_control = REVALIDATE
    kind = "attachment" if params.get("download") in ("1", "true", "yes") else "inline"
    disposition = f'{kind}; filename="{filename(asset, preset.name, fmt)}"'
    return Response(
        result.data,
        media_type=result.content_type,
        headers=image_headers(result, cache_control=cache_control, disposition=disposition),
    )


routes = [
    route("/api/v1/presets", presets, allow=Allow.employee),
    route("/api/v1/assets/{asset_id}/render", render_image, allow=Allow.employee),
]
