"""The brand settings page (marketing): colours, watermark logo, headline font, and a live preview.

Works without JavaScript: the form saves and the page shows every preset rendered with the saved
settings. brand.js swaps the previews to unsaved settings as they are edited, and marks the ones
the server reports as low resolution.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.assets import Asset
from toolkit.brand import MAX_FONT_BYTES, RANGES, Brand
from toolkit.errors import N_, Conflict, Invalid, PreconditionFailed, TooLarge
from toolkit.i18n import gettext
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS
from toolkit.imaging.render import WATERMARK_POSITIONS
from toolkit.portal import Portal
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.brand import values_from_form
from toolkit.web.forms import see_other
from toolkit.web.templating import render
from toolkit.web.uploads import receive_upload

POSITION_LABELS = {
    "top-left": N_("Top left"),
    "top-right": N_("Top right"),
    "bottom-left": N_("Bottom left"),
    "bottom-right": N_("Bottom right"),
    "center": N_("Centre"),
}


def form_of(brand: Brand) -> dict[str, str]:
    """The brand as the form shows it: percentages for the logo's margin, size and opacity."""
    form = {k: str(v) for k, v in brand.to_data().items() if k not in RANGES}
    for name in RANGES:
        form[name] = f"{getattr(brand, name) * 100:g}"
    return form


def preview_asset(portal: Portal, wanted: str, brand: Brand) -> Asset | None:
    """The asset to preview: the one asked for, else the newest approved picture that is not a logo."""
    if wanted:
        asset = portal.assets.get(wanted)
        if asset is not None:
            return asset
    for asset in portal.assets.all():
        if asset.status == "approved" and asset.id != brand.watermark_asset_id and "logo" not in asset.tags:
            return asset
    return None


def _page(
    request: Request,
    *,
    asset_id: str = "",
    form: dict[str, str] | None = None,
    error: str | None = None,
    saved: bool = False,
    status: int = 200,
) -> Response:
    portal = portal_of(request)
    brand = portal.brand.current()
    asset = preview_asset(portal, asset_id, brand)
    approved = [a for a in portal.assets.all() if a.status == "approved"]
    # Logos with transparency first: they sit on any picture without a box around them.
    logos = [a for a in approved if a.master_type == "image/png"]
    others = [a for a in approved if a.master_type != "image/png"]
    # URLs come from the rendition_url template global; whether an image is low resolution is known
    # here once it has been made (brand.js asks the server for the rest).
    previews = []
    if asset is not None:
        for preset in PRESETS.values():
            known = portal.renditions.peek(portal.renditions.key(asset, preset, "jpeg", watermark=True))
            previews.append({"preset": preset, "low_resolution": bool(known and known.low_resolution)})
    context: dict[str, Any] = {
        "brand": brand,
        "form": form or form_of(brand),
        "error": error,
        "saved": saved,
        "asset": asset,
        "assets": [a for a in portal.assets.all() if a.status != "archived"],
        "logos": logos,
        "other_logos": others,
        "logo": portal.brand.logo(brand),
        "previews": previews,
        "sample_preset": PRESETS[DEFAULT_PRESET],
        "positions": [(p, POSITION_LABELS[p]) for p in WATERMARK_POSITIONS],
        "max_font_mb": MAX_FONT_BYTES // 2**20,
    }
    return render(request, "marketing/brand.html", context, status=status)


async def brand_page(request: Request) -> Response:
    params = request.query_params
    return _page(request, asset_id=params.get("asset", ""), saved=params.get("saved") == "1")


async def save_brand(request: Request) -> Response:
    """Save the form (multipart, for the optional font file); errors show the form as it was sent."""
    user = require_user(request)
    portal = portal_of(request)
    try:
        received = await receive_upload(request, max_mb=MAX_FONT_BYTES // 2**20)
    except TooLarge as exc:
        return _page(request, error=exc.text(gettext), status=exc.status)
    try:
        fields = received.fields
        upload = received.file
        font = None
        if upload is not None and upload.size > 0:
            font = await run_in_threadpool(upload.path.read_bytes)
        values = values_from_form(fields)
        if fields.get("font_reset") == "1" and font is None:
            values["font_reset"] = True
        try:
            await run_in_threadpool(
                lambda: portal.brand.update(values, user, fields.get("version") or None, font=font)
            )
        except (Invalid, Conflict, PreconditionFailed, TooLarge) as exc:
            # The form as it was sent, on top of the settings as they are now (and their version).
            sent = {k: v for k, v in fields.items() if k not in ("csrf_token", "version", "asset")}
            form = form_of(portal.brand.current()) | sent
            return _page(
                request,
                asset_id=fields.get("asset", ""),
                form=form,
                error=exc.text(gettext),
                status=exc.status,
            )
    finally:
        await run_in_threadpool(received.close)
    query = {"saved": "1"} | ({"asset": fields["asset"]} if fields.get("asset") else {})
    return see_other(f"/brand?{urlencode(query)}")


routes = [
    route("/brand", brand_page, allow=Allow.marketing),
    route(
        "/brand", save_brand, allow=Allow.marketing, methods=["POST"], name="save_brand", streams_body=True
    ),
]
