"""Marketing: write, approve and archive example posts; curate hashtag sets."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.errors import Conflict, Invalid, NotFound, PreconditionFailed
from toolkit.i18n import gettext
from toolkit.imaging.presets import PRESETS
from toolkit.posts import CHANNELS, LANGUAGES, STATUSES, Post
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.forms import form_fields, form_lists, see_other
from toolkit.web.templating import render

BLANK_VARIANTS = 2


async def posts_page(request: Request) -> Response:
    portal = portal_of(request)
    status = request.query_params.get("status") or None
    campaign = request.query_params.get("campaign") or None
    posts = portal.posts.all(status=status, campaign=campaign)
    context = {
        "posts": posts,
        "statuses": STATUSES,
        "status": status or "",
        "campaign": campaign or "",
        "campaigns": portal.posts.campaigns(portal.posts.all()),
    }
    return render(request, "marketing/posts.html", context)


def values_from_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """Post fields from the edit form; variants come as parallel lists, blank rows are skipped."""

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0]

    texts = fields.get("variant_text", [])
    variants = [
        {"id": vid, "language": lang, "tone": tone, "text": text}
        for vid, lang, tone, text in zip(
            fields.get("variant_id", [""] * len(texts)),
            fields.get("variant_language", ["en"] * len(texts)),
            fields.get("variant_tone", [""] * len(texts)),
            texts,
            strict=False,
        )
        if text.strip()
    ]
    return {
        "title": one("title"),
        "campaign": one("campaign"),
        "variants": variants,
        "hashtag_set_ids": fields.get("hashtag_set_ids", []),
        "extra_hashtags": one("extra_hashtags"),
        "asset_id": one("asset_id") or None,
        "preset": one("preset"),
        "headline": one("headline"),
        "link": one("link"),
        "valid_from": one("valid_from") or None,
        "valid_until": one("valid_until") or None,
        "channel": one("channel") or "linkedin",
    }


def _form(
    request: Request,
    post: Post | None,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    portal = portal_of(request)
    source = values or (post.public() if post else {})
    variants = list(source.get("variants", []))
    variants += [{"id": "", "language": "en", "tone": "", "text": ""}] * BLANK_VARIANTS
    extra = source.get("extra_hashtags", "")
    images = [
        a
        for a in (portal.assets.get(r.id) for r in portal.records.all("assets"))
        if a is not None and a.status != "archived"
    ]
    image = portal.assets.get(post.asset_id) if post and post.asset_id else None
    context = {
        "post": post,
        # The saved post's image when employees could not see it: approving offers to approve it too.
        "image_to_approve": image if image is not None and image.status != "approved" else None,
        "v": source,
        "variants": variants,
        "error": error,
        "extra_hashtags": extra if isinstance(extra, str) else " ".join(extra),
        "sets": portal.hashtag_sets.all(),
        "images": sorted(images, key=lambda a: a.title.lower()),
        "presets": PRESETS,
        "languages": LANGUAGES,
        "channels": CHANNELS,
        "local": lambda iso: (iso or "")[:16],
    }
    return render(request, "marketing/post_form.html", context, status=status)


async def new_post_page(request: Request) -> Response:
    return _form(request, None)


async def create_post(request: Request) -> Response:
    actor = require_user(request)
    values = values_from_form(await form_lists(request))
    try:
        post = await run_in_threadpool(portal_of(request).posts.create, values, actor)
    except (Invalid, Conflict, NotFound) as exc:
        return _form(request, None, values=values, error=exc.text(gettext), status=exc.status)
    return see_other(f"/manage/posts/{post.id}?saved=1")


async def edit_post_page(request: Request) -> Response:
    post = portal_of(request).posts.require(request.path_params["post_id"])
    return _form(request, post)


async def save_post(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    post = portal.posts.require(request.path_params["post_id"])
    fields = await form_lists(request)
    values = values_from_form(fields)
    version = (fields.get("version") or [""])[0] or None
    try:
        await run_in_threadpool(lambda: portal.posts.update(post.id, values, actor, version=version))
    except (Invalid, Conflict, NotFound, PreconditionFailed) as exc:
        return _form(request, post, values=values, error=exc.text(gettext), status=exc.status)
    return see_other(f"/manage/posts/{post.id}?saved=1")


async def change_status(request: Request) -> Response:
    actor = require_user(request)
    portal = portal_of(request)
    posts = portal.posts
    post_id = request.path_params["post_id"]
    fields = await form_fields(request)
    action = fields.get("action", "")
    if action == "approve":
        # The checkbox approves a draft image in the same step; without it such a post is refused.
        with_image = partial(portal.assets.approve, actor=actor) if fields.get("approve_image") else None
        try:
            await run_in_threadpool(lambda: posts.approve(post_id, actor, approve_image=with_image))
        except (Invalid, Conflict) as exc:
            return _form(request, posts.require(post_id), error=exc.text(gettext), status=exc.status)
    elif action == "archive":
        await run_in_threadpool(posts.archive, post_id, actor)
    elif action == "delete":
        await run_in_threadpool(posts.delete, post_id, actor)
        return see_other("/manage/posts")
    else:
        raise Invalid()
    return see_other(f"/manage/posts/{post_id}")


async def hashtags_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    return render(
        request,
        "marketing/hashtags.html",
        {"sets": portal_of(request).hashtag_sets.all(), "error": error},
        status=status,
    )


async def save_hashtag_set(request: Request) -> Response:
    actor = require_user(request)
    sets = portal_of(request).hashtag_sets
    fields = await form_fields(request)
    set_id = fields.get("id", "")
    try:
        if fields.get("action") == "delete":
            await run_in_threadpool(sets.delete, set_id, actor)
        elif set_id:
            await run_in_threadpool(
                lambda: sets.update(set_id, fields, actor, version=fields.get("version") or None)
            )
        else:
            await run_in_threadpool(sets.create, fields, actor)
    except (Invalid, Conflict, NotFound, PreconditionFailed) as exc:
        return await hashtags_page(request, error=exc.text(gettext), status=exc.status)
    return see_other("/manage/hashtags")


routes = [
    route("/manage/posts", posts_page, allow=Allow.marketing),
    route("/manage/posts/new", new_post_page, allow=Allow.marketing),
    route("/manage/posts/new", create_post, allow=Allow.marketing, methods=["POST"], name="create_post_form"),
    route("/manage/posts/{post_id}", edit_post_page, allow=Allow.marketing),
    route("/manage/posts/{post_id}", save_post, allow=Allow.marketing, methods=["POST"]),
    route("/manage/posts/{post_id}/status", change_status, allow=Allow.marketing, methods=["POST"]),
    route("/manage/hashtags", hashtags_page, allow=Allow.marketing),
    route("/manage/hashtags", save_hashtag_set, allow=Allow.marketing, methods=["POST"]),
]
