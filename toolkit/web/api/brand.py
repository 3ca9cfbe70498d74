"""/api/v1/brand: the brand settings over JSON, and previews of unsaved settings (marketing only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.brand import EDITABLE, RANGES
from toolkit.errors import N_
from toolkit.i18n import gettext
from toolkit.imaging.presets import DEFAULT_PRESET, get_preset
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.renditions import image_format, image_headers, watermark_flag
from toolkit.web.api.responses import json_response
from toolkit.web.forms import if_match, json_body

SAMPLE_HEADLINE = N_("Proud to share what our team built this year")
# Forms and preview links give the logo's margin, size and opacity in per cent of the image.
PERCENT_FIELDS = tuple(RANGES)


def values_from_form(fields: Mapping[str, str]) -> dict[str, Any]:
    """Brand fields from a form or query string: percentages become shares, the rest passes through.

    What is not a number is passed on as typed, so the domain's message names the field.
    """
    values: dict[str, Any] = {}
    for name in EDITABLE:
        if name not in fields or name == "font_reset":
            continue
        raw = fields[name]
        if name in PERCENT_FIELDS:
            try:
                values[name] = float(raw) / 100
            except ValueError:
                values[name] = raw
        else:
            values[name] = raw
    return values


async def get_brand(request: Request) -> Response:
    brand = portal_of(request).brand.current()
    return json_response(brand.public(), version=brand.version)


async def update_brand(request: Request) -> Response:
    """Change brand settings (shares from 0 to 1 for margin, scale, opacity); honours If-Match."""
    user = require_user(request)
    portal = portal_of(request)
    body = await json_body(request)
    expected = if_match(request)
    saved = await run_in_threadpool(
        lambda: portal.brand.update(body, user, expected, client_version=expected is not None)
    )
    return json_response(saved.public(), version=saved.version)


async def preview(request: Request) -> Response:
    """An image with unsaved brand settings (percentages as the form sends them); never stored.

    ?asset=ID&preset=NAME[&format=jpeg][&watermark=1][&sample=1 for a sample headline]&<brand fields>
    """
    portal = portal_of(request)
    params = request.query_params
    asset = portal.assets.require(params.get("asset", ""))
    preset = get_preset(params.get("preset") or DEFAULT_PRESET)
    fmt = image_format(params.get("format"))
    watermark = watermark_flag(params.get("watermark"))
    brand = portal.brand.preview(values_from_form(params))
    headline = gettext(SAMPLE_HEADLINE) if params.get("sample") == "1" else None
    result = await run_in_threadpool(
        lambda: portal.renditions.preview(
            asset, preset, fmt, brand=brand, watermark=watermark, headline=headline
        )
    )
    headers = image_headers(result, cache_control="private, no-store", disposition="inline")
    return Response(result.data, media_type=result.content_type, headers=headers)


routes = [
    route("/api/v1/brand", get_brand, allow=Allow.marketing),
    route("/api/v1/brand", update_brand, allow=Allow.marketing, methods=["PATCH"], name="update_brand"),
    route("/api/v1/brand/preview", preview, allow=Allow.marketing, name="brand_preview"),
]
