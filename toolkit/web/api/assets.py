"""/api/v1/assets: the brand imagery library over JSON, and its image files.

Employees get only what they may use (approved, rights and consent not expired); for them every
other asset answers 404. Uploads stream (toolkit.web.uploads), so a large file never sits in memory.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from weakref import WeakKeyDictionary

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from toolkit.accounts import User
from toolkit.assets import Asset
from toolkit.errors import N_, Invalid
from toolkit.imaging.master import THUMB_WIDTHS
from toolkit.store.base import CHUNK
from toolkit.web import idempotency
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response
from toolkit.web.forms import if_match, json_body
from toolkit.web.uploads import Received, receive_upload

# Images never change under an asset id (a new upload is a new asset), so browsers may keep them.
IMMUTABLE = "private, max-age=31536000, immutable"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/tiff": "tif",
}


# Uploads being processed (decoded, then stored) at once per event loop. Decoding itself is bounded
# by the decode budget (one per core); this keeps uploads waiting for it out of the thread pool
# every other request shares: they wait here, without a thread.
UPLOAD_THREADS = 16
_upload_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = WeakKeyDictionary()


def _upload_limiter() -> CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _upload_limiters.get(loop)
    if limiter is None:
        limiter = _upload_limiters[loop] = CapacityLimiter(UPLOAD_THREADS)
    return limiter


async def store_upload(request: Request, user: User) -> tuple[Asset, bool]:
    """Receive the multipart upload of this request and add it to the library: (asset, duplicate)."""
    portal = portal_of(request)
    received = await receive_upload(request, max_mb=portal.settings.max_upload_mb)
    try:
        return await add_received(request, received, user)
    finally:
        await run_in_threadpool(received.close)


async def add_received(request: Request, received: Received, user: User) -> tuple[Asset, bool]:
    """Add a received upload to the library: (asset, duplicate)."""
    portal = portal_of(request)
    upload = received.file
    if upload is None or (upload.size == 0 and not upload.filename):
        raise Invalid(N_("Choose a file to upload."))
    return await anyio.to_thread.run_sync(
        lambda: portal.assets.add_upload(
            upload,
            actor=user,
            title=received.fields.get("title", ""),
            tags=received.fields.get("tags", ""),
        ),
        limiter=_upload_limiter(),
    )


def upload_fingerprint(received: Received) -> bytes:
    """What an Idempotency-Key stands for on an upload: the file's bytes (by their sha256), its
    name, and the title and tags sent with it."""
    upload = received.file
    return json.dumps(
        [
            upload.sha256 if upload else "",
            upload.filename if upload else "",
            received.fields.get("title", ""),
            received.fields.get("tags", ""),
        ]
    ).encode()


def _number(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    # isdigit() alone also accepts digits int() refuses, such as '²'.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise Invalid(
            N_("%(name)s must be a whole number from %(low)s to %(high)s."), name=name, low=low, high=high
        )
    return int(raw)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


async def list_assets(request: Request) -> Response:
    user = require_user(request)
    portal_of(request).crisis.ensure_calm_for(user)
    params = request.query_params
    result = portal_of(request).assets.search(
        user,
        q=params.get("q", ""),
        tags=params.getlist("tag"),
        status=params.get("status") or None,
        expiring=_flag(request, "expiring"),
        page=_number(request, "page", 1, 1, 1_000_000),
        per_page=_number(request, "per_page", 50, 1, 200),
    )
    return json_response(
        {
            "items": [asset.public() for asset in result.items],
            "total": result.total,
            "page": result.page,
            "per_page": result.per_page,
        }
    )


async def create_asset(request: Request) -> Response:
    """201 with the new asset; 200 with the existing one and duplicate: true for the same bytes."""
    user = require_user(request)
    received = await receive_upload(request, max_mb=portal_of(request).settings.max_upload_mb)
    try:
        attempt = await idempotency.begin(request, upload_fingerprint(received))
        if isinstance(attempt, Response):
            return attempt
        try:
            asset, duplicate = await add_received(request, received, user)
        except BaseException:
            if attempt is not None:
                await attempt.abandon()
            raise
        response = json_response(
            asset.public() | {"duplicate": duplicate}, status=200 if duplicate else 201, version=asset.version
        )
        response.headers["location"] = f"/api/v1/assets/{asset.id}"
        if attempt is not None:
            await attempt.keep(response)
        return response
    finally:
        await run_in_threadpool(received.close)


async def get_asset(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm_for(user)
    asset = portal.assets.visible(user, request.path_params["asset_id"])
    return json_response(asset.public(), version=asset.version)


async def update_asset(request: Request) -> Response:
    user = require_user(request)
    assets = portal_of(request).assets
    asset = assets.require(request.path_params["asset_id"])
    body = await json_body(request)
    expected = if_match(request)
    saved = await run_in_threadpool(
        lambda: assets.update(
            asset.id, body, actor=user, version=expected, client_version=expected is not None
        )
    )
    return json_response(saved.public(), version=saved.version)


async def delete_asset(request: Request) -> Response:
    """Archive; with ?purge=1, remove an archived asset and every file made from it."""
    user = require_user(request)
    assets = portal_of(request).assets
    asset = assets.require(request.path_params["asset_id"])
    if _flag(request, "purge"):
        await run_in_threadpool(lambda: assets.purge(asset.id, actor=user))
        return Response(status_code=204)
    expected = if_match(request)
    if asset.status == "archived" and expected is None:
        return json_response(asset.public(), version=asset.version)
    archived = await run_in_threadpool(lambda: assets.archive(asset.id, actor=user, version=expected))
    return json_response(archived.public(), version=archived.version)


def _image_response(etag: str, load: bytes | None, media_type: str) -> Response:
    headers = {"etag": etag, "cache-control": IMMUTABLE}
    if load is None:
        return Response(status_code=304, headers=headers)
    return Response(load, media_type=media_type, headers=headers)


def _not_modified(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match", "")
    return etag in [tag.strip() for tag in sent.split(",")] or sent.strip() == "*"


async def thumbnail(request: Request) -> Response:
    """A small JPEG of the asset (w=320 or 640), for grids and previews; paused for employees
    during a crisis, like every other image of the library."""
    portal = portal_of(request)
    user = require_user(request)
    portal.crisis.ensure_calm_for(user)
    asset = portal.assets.visible(user, request.path_params["asset_id"])
    width = _number(request, "w", THUMB_WIDTHS[0], 1, 100_000)
    if width not in THUMB_WIDTHS:
        raise Invalid(
            N_("Thumbnails come in these widths: %(widths)s."), widths=", ".join(map(str, THUMB_WIDTHS))
        )
    etag = f'"{asset.sha256[:32]}-t{width}"'
    if _not_modified(request, etag):
        return _image_response(etag, None, "image/jpeg")
    data = await run_in_threadpool(portal.assets.thumb_bytes, asset, width)
    return _image_response(etag, data, "image/jpeg")


def download_name(asset: Asset, content_type: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", asset.title).strip("-").lower()[:60] or "image"
    return f"{stem}.{_EXTENSIONS.get(content_type, 'bin')}"


async def master(request: Request) -> Response:
    """The working master (upright, sRGB, at most 2560 px), for everyone who may see the asset."""
    portal = portal_of(request)
    user = require_user(request)
    # Downloading is sharing: paused for employees while crisis mode is on.
    portal.crisis.ensure_calm_for(user)
    asset = portal.assets.visible(user, request.path_params["asset_id"])
    etag = f'"{asset.sha256[:32]}-m"'
    if _not_modified(request, etag):
        return _image_response(etag, None, asset.master_type)
    data = await run_in_threadpool(portal.assets.master_bytes, asset)
    response = _image_response(etag, data, asset.master_type)
    disposition = "attachment" if _flag(request, "download") else "inline"
    response.headers["content-disposition"] = (
        f'{disposition}; filename="{download_name(asset, asset.master_type)}"'
    )
    return response


async def original(request: Request) -> Response:
    """The uploaded file exactly as it came in, streamed from the store (marketing only)."""
    portal = portal_of(request)
    asset = portal.assets.require(request.path_params["asset_id"])
    stream, info = await run_in_threadpool(portal.store.open, asset.original_key)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    filename = download_name(asset, asset.content_type)
    return StreamingResponse(
        chunks(),
        media_type=asset.content_type,
        headers={
            "content-length": str(info.size),
            "content-disposition": f'attachment; filename="{filename}"',
            "etag": f'"{asset.sha256[:32]}-o"',
            "cache-control": IMMUTABLE,
        },
    )


routes = [
    route("/api/v1/assets", list_assets, allow=Allow.employee),
    route(
        "/api/v1/assets",
        idempotency.documented(create_asset),
        allow=Allow.marketing,
        methods=["POST"],
        name="create_asset",
        streams_body=True,
    ),
    route("/api/v1/assets/{asset_id}", get_asset, allow=Allow.employee),
    route("/api/v1/assets/{asset_id}", update_asset, allow=Allow.marketing, methods=["PATCH"]),
    route("/api/v1/assets/{asset_id}", delete_asset, allow=Allow.marketing, methods=["DELETE"]),
    route("/api/v1/assets/{asset_id}/thumb", thumbnail, allow=Allow.employee),
    route("/api/v1/assets/{asset_id}/master", master, allow=Allow.employee),
    route("/api/v1/assets/{asset_id}/original", original, allow=Allow.marketing),
]
