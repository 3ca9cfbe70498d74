"""Employees: the copy composer, where an example post becomes their own."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import User
from toolkit.assets import Asset
from toolkit.errors import NotFound
from toolkit.i18n import current_language
from toolkit.portal import Portal
from toolkit.posts import Post
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.api.posts import composition_json, kit_response
from toolkit.web.forms import form_lists
from toolkit.web.templating import render


async def composer(request: Request) -> Response:
    """The composer; works without JavaScript (its form re-renders the preview on the server)."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    post = portal.posts.visible(user, request.path_params["post_id"])
    query = request.query_params
    language = query.get("lang") or current_language.get()
    if query.get("surprise") == "1":
        # Picking by usage reads the counter objects from the store: never on the event loop.
        variant = await run_in_threadpool(portal.posts.surprise_variant, post, language)
    else:
        variant = post.variant(query.get("variant") or None, language)
    body = query["text"] if "text" in query else portal.posts.body_for(variant, user)
    kept = query.getlist("hashtag") if query.get("edited") == "1" else None
    composition = portal.posts.compose(
        post, user, variant_id=variant.id, body=body, hashtags=kept, fold_at=portal.settings.fold_at
    )
    asset = _visible_image(portal, user, post)
    context = {
        "post": post,
        "variant": variant,
        "composition": composition,
        "composed": composition_json(composition),
        "body": body,
        "offered": portal.posts.hashtags_of(post),
        "kept": set(composition.hashtags),
        "asset": asset,
        "fold_setting": portal.settings.fold_at,
        "share_link": await run_in_threadpool(_share_url, portal, post, user),
    }
    return render(request, "employee/composer.html", context)


def _visible_image(portal: Portal, user: User, post: Post) -> Asset | None:
    """The post's image if this person may see it (Assets.visible), else None: a draft, archived
    or expired image shows nothing of itself, not even its alt text."""
    if not post.asset_id:
        return None
    try:
        return portal.assets.visible(user, post.asset_id)
    except NotFound:
        return None


def _share_url(portal: Portal, post: Post, user: User) -> str:
    """The person's share link to this post if they made one, for the composer. May read the store."""
    link = portal.sharing.existing(post, user)
    return portal.sharing.url(link.token) if link else ""


async def kit_download(request: Request) -> Response:
    """The kit with the employee's own edit, from the composer's form (no JavaScript needed)."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    post = portal.posts.visible(user, request.path_params["post_id"])
    fields = await form_lists(request)

    def first(name: str) -> str | None:
        return fields[name][0] if fields.get(name) else None

    composition = portal.posts.compose(
        post,
        user,
        variant_id=first("variant") or None,
        body=first("text"),
        hashtags=fields.get("hashtag", []) if first("edited") == "1" else None,
        fold_at=portal.settings.fold_at,
    )
    return await kit_response(portal, user, post, composition)


routes = [
    route("/posts/{post_id}", composer, allow=Allow.employee),
    route("/posts/{post_id}/kit", kit_download, allow=Allow.employee, methods=["POST"]),
]
