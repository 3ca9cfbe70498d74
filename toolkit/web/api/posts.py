"""/api/v1/posts, the copy composer, downloads and kits, and /api/v1/hashtag-sets."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import User
from toolkit.errors import N_, Invalid, NotFound
from toolkit.i18n import gettext
from toolkit.kits import build_kit, image_filename, slug
from toolkit.portal import Portal
from toolkit.posts import EDITABLE, Composition, Post
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.responses import json_response
from toolkit.web.forms import if_match, json_body, json_limit_bytes, read_json_bytes
from toolkit.web.idempotency import idempotent


def _post_json(post: Post, portal: Portal, user: User) -> dict[str, Any]:
    """A post as the API shows it; employees do not get marketing's user ids (created_by)."""
    return post.public(staff=user.is_marketing) | {"hashtags": portal.posts.hashtags_of(post)}


def composition_json(composition: Composition) -> dict[str, Any]:
    return composition.public(gettext)


# What GET answers besides the editable fields: sending a post back as it was read is fine, and
# these are left as they are (status changes through /approve and /archive).
READ_ONLY = frozenset(
    {"id", "version", "status", "created_at", "created_by", "updated_at", "approved_at", "hashtags"}
)


def _post_body(body: dict[str, Any]) -> dict[str, Any]:
    """A post's fields from a request; any field a post does not have is refused (422 naming it)
    rather than silently dropped, so a misspelt or unsupported field never looks accepted."""
    unknown = sorted(k for k in body if k not in EDITABLE and k not in READ_ONLY)
    if unknown:
        raise Invalid(N_("Unknown field '%(field)s'."), field=unknown[0][:60])
    return body


async def list_posts(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    query = request.query_params
    if user.is_marketing and query.get("view") != "feed":
        posts = portal.posts.all(status=query.get("status") or None, campaign=query.get("campaign") or None)
    else:
        portal.crisis.ensure_calm()
        posts = portal.posts.feed(campaign=query.get("campaign") or None, language=query.get("lang") or None)
    return json_response({"items": [_post_json(p, portal, user) for p in posts], "total": len(posts)})


async def create_post(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    body = _post_body(await json_body(request))
    post = await run_in_threadpool(portal.posts.create, body, actor)
    return json_response(_post_json(post, portal, actor), status=201, version=post.version)


async def get_post(request: Request) -> Response:
    user = require_user(request)
    portal = portal_of(request)
    if not user.is_marketing:
        portal.crisis.ensure_calm()
    post = portal.posts.visible(user, request.path_params["post_id"])
    return json_response(_post_json(post, portal, user), version=post.version)


async def update_post(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    body = _post_body(await json_body(request))
    post = await run_in_threadpool(
        lambda: portal.posts.update(request.path_params["post_id"], body, actor, version=if_match(request))
    )
    return json_response(_post_json(post, portal, actor), version=post.version)


async def delete_post(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    await run_in_threadpool(
        lambda: portal.posts.delete(request.path_params["post_id"], actor, version=if_match(request))
    )
    return Response(status_code=204)


async def approve_post(request: Request) -> Response:
    """Put a post live; {"approve_image": true} approves its image too when that is not approved
    yet (otherwise such a post is refused with 422 naming the image). The body is optional."""
    actor = require_user(request)
    portal = portal_of(request)
    with_image = await _approve_image_requested(request)
    post = await run_in_threadpool(
        lambda: portal.posts.approve(
            request.path_params["post_id"],
            actor,
            approve_image=partial(portal.assets.approve, actor=actor) if with_image else None,
        )
    )
    return json_response(_post_json(post, portal, actor), version=post.version)


async def _approve_image_requested(request: Request) -> bool:
    raw = await read_json_bytes(request, json_limit_bytes(request))
    if not raw.strip():
        return False
    body = await json_body(request)
    unknown = sorted(set(body) - {"approve_image"})
    if unknown:
        raise Invalid(N_("Unknown field '%(field)s'."), field=unknown[0][:60])
    flag = body.get("approve_image", False)
    if not isinstance(flag, bool):
        raise Invalid(N_("%(field)s must be true or false."), field="approve_image")
    return flag


async def archive_post(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    post = await run_in_threadpool(portal.posts.archive, request.path_params["post_id"], actor)
    return json_response(_post_json(post, portal, actor), version=post.version)


def _employee_post(request: Request) -> tuple[Portal, User, Post]:
    """The post an employee acts on: only while sharing is not paused, only live posts."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    return portal, user, portal.posts.visible(user, request.path_params["post_id"])


async def _variant_choice(request: Request, portal: Portal, post: Post) -> tuple[str | None, str | None]:
    query = request.query_params
    language = query.get("lang") or None
    if query.get("surprise") == "1":
        # Picking by usage reads the counter objects from the store: never on the event loop.
        variant = await run_in_threadpool(portal.posts.surprise_variant, post, language)
        return variant.id, language
    return query.get("variant") or None, language


async def copy_text(request: Request) -> Response:
    """The composed text for the caller; counts as a use (this is the API's 'copy')."""
    portal, user, post = _employee_post(request)
    variant_id, language = await _variant_choice(request, portal, post)
    composition = portal.posts.compose(
        post, user, variant_id=variant_id, language=language, fold_at=portal.settings.fold_at
    )
    portal.posts.record_use(post, user, "copy", composition.variant_id)
    return json_response(composition_json(composition))


async def compose(request: Request) -> Response:
    """Live preview of the employee's own edit: no use is counted until they copy or download."""
    portal, user, post = _employee_post(request)
    body = await json_body(request)
    text = body.get("text")
    hashtags = body.get("hashtags")
    if text is not None and not isinstance(text, str):
        raise Invalid(N_("'text' must be a string."))
    if hashtags is not None and not (
        isinstance(hashtags, list) and all(isinstance(h, str) for h in hashtags)
    ):
        raise Invalid(N_("'hashtags' must be a list of strings."))
    composition = portal.posts.compose(
        post,
        user,
        variant_id=str(body.get("variant") or "") or None,
        language=str(body.get("lang") or "") or None,
        body=text,
        hashtags=hashtags,
        fold_at=portal.settings.fold_at,
    )
    return json_response(composition_json(composition))


async def record_use(request: Request) -> Response:
    portal, user, post = _employee_post(request)
    body = await json_body(request)
    variant = str(body.get("variant") or "")
    if variant:
        post.variant(variant)
    portal.posts.record_use(post, user, str(body.get("action", "")), variant)
    return Response(status_code=204)


async def post_image(
    portal: Portal, user: User, post: Post, fmt: str = "jpeg"
) -> tuple[bytes, str, str] | None:
    """The share-ready image of a post for this person, or None when the post has no image this
    person may see (an image archived or expired after the post went live)."""
    if not post.asset_id:
        return None
    try:
        asset = portal.assets.visible(user, post.asset_id)
    except NotFound:
        return None
    rendition = await run_in_threadpool(
        lambda: portal.renditions.render(
            asset, post.preset, fmt, watermark=True, headline=post.headline or None
        )
    )
    return rendition.data, rendition.content_type, asset.alt_text


async def preview_image(request: Request) -> Response:
    """The post's share image as the composer shows it (with headline band); not counted as a use."""
    portal, user, post = _employee_post(request)
    if not post.asset_id:
        raise NotFound(N_("This post has no image."))
    asset = portal.assets.visible(user, post.asset_id)
    headline = post.headline or None
    rendition = await run_in_threadpool(
        lambda: portal.renditions.render(asset, post.preset, "jpeg", watermark=True, headline=headline)
    )
    etag = f'"{rendition.etag}"'
    headers = {"etag": etag, "cache-control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(rendition.data, media_type=rendition.content_type, headers=headers)


async def download_image(request: Request) -> Response:
    portal, user, post = _employee_post(request)
    variant = request.query_params.get("variant", "")
    if variant:
        post.variant(variant)  # 404 for a made-up variant, before anything is rendered or counted
    image = await post_image(portal, user, post, request.query_params.get("format", "jpeg"))
    if image is None:
        raise NotFound(N_("This post has no image."))
    data, content_type, _ = image
    portal.posts.record_use(post, user, "download", variant)
    return Response(
        data,
        media_type=content_type,
        headers={
            "content-disposition": f'attachment; filename="{image_filename(post.title, content_type)}"',
            "cache-control": "private, no-store",
        },
    )


async def kit_response(portal: Portal, user: User, post: Post, composition: Composition) -> Response:
    image = await post_image(portal, user, post)
    data, content_type, alt_text = image if image else (None, "image/jpeg", "")
    kit = await run_in_threadpool(build_kit, post.title, composition.text, alt_text, data, content_type)
    portal.posts.record_use(post, user, "kit", composition.variant_id)
    return Response(
        kit,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{slug(post.title)}-kit.zip"',
            "cache-control": "private, no-store",
        },
    )


async def kit(request: Request) -> Response:
    portal, user, post = _employee_post(request)
    variant_id, language = await _variant_choice(request, portal, post)
    composition = portal.posts.compose(
        post, user, variant_id=variant_id, language=language, fold_at=portal.settings.fold_at
    )
    return await kit_response(portal, user, post, composition)


async def preview(request: Request) -> Response:
    """Marketing's live preview: each variant composed for the writer, with the lint."""
    user = require_user(request)
    portal = portal_of(request)
    body = await json_body(request)
    draft = portal.posts.draft_from(body)
    items = [
        composition_json(portal.posts.compose(draft, user, variant_id=v.id, fold_at=portal.settings.fold_at))
        for v in draft.variants
    ]
    return json_response({"items": items})


async def list_sets(request: Request) -> Response:
    return json_response({"items": [s.public() for s in portal_of(request).hashtag_sets.all()]})


async def create_set(request: Request) -> Response:
    actor = require_user(request)
    body = await json_body(request)
    made = await run_in_threadpool(portal_of(request).hashtag_sets.create, body, actor)
    return json_response(made.public(), status=201, version=made.version)


async def get_set(request: Request) -> Response:
    found = portal_of(request).hashtag_sets.require(request.path_params["set_id"])
    return json_response(found.public(), version=found.version)


async def update_set(request: Request) -> Response:
    actor = require_user(request)
    body = await json_body(request)
    sets = portal_of(request).hashtag_sets
    changed = await run_in_threadpool(
        lambda: sets.update(request.path_params["set_id"], body, actor, version=if_match(request))
    )
    return json_response(changed.public(), version=changed.version)


async def delete_set(request: Request) -> Response:
    actor = require_user(request)
    await run_in_threadpool(portal_of(request).hashtag_sets.delete, request.path_params["set_id"], actor)
    return Response(status_code=204)


routes = [
    route("/api/v1/posts", list_posts, allow=Allow.employee),
    route("/api/v1/posts", idempotent(create_post), allow=Allow.marketing, methods=["POST"]),
    route("/api/v1/posts/preview", preview, allow=Allow.marketing, methods=["POST"]),
    route("/api/v1/posts/{post_id}", get_post, allow=Allow.employee),
    route("/api/v1/posts/{post_id}", update_post, allow=Allow.marketing, methods=["PATCH"]),
    route("/api/v1/posts/{post_id}", delete_post, allow=Allow.marketing, methods=["DELETE"]),
    route("/api/v1/posts/{post_id}/approve", approve_post, allow=Allow.marketing, methods=["POST"]),
    route("/api/v1/posts/{post_id}/archive", archive_post, allow=Allow.marketing, methods=["POST"]),
    route("/api/v1/posts/{post_id}/copy", copy_text, allow=Allow.employee),
    route("/api/v1/posts/{post_id}/compose", compose, allow=Allow.employee, methods=["POST"]),
    route("/api/v1/posts/{post_id}/uses", record_use, allow=Allow.employee, methods=["POST"]),
    route("/api/v1/posts/{post_id}/image", download_image, allow=Allow.employee),
    route("/api/v1/posts/{post_id}/preview.jpg", preview_image, allow=Allow.employee),
    route("/api/v1/posts/{post_id}/kit.zip", kit, allow=Allow.employee),
    route("/api/v1/hashtag-sets", list_sets, allow=Allow.marketing),
    route("/api/v1/hashtag-sets", idempotent(create_set), allow=Allow.marketing, methods=["POST"]),
    route("/api/v1/hashtag-sets/{set_id}", get_set, allow=Allow.marketing),
    route("/api/v1/hashtag-sets/{set_id}", update_set, allow=Allow.marketing, methods=["PATCH"]),
    route("/api/v1/hashtag-sets/{set_id}", delete_set, allow=Allow.marketing, methods=["DELETE"]),
]
