"""Pages every signed-in person uses: the feed of example posts and their own profile (where they
can also sign out everywhere)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from toolkit.accounts import PROFILE_FIELDS
from toolkit.errors import Invalid
from toolkit.i18n import current_language, gettext
from toolkit.posts import LANGUAGES, Post
from toolkit.web.access import Allow, portal_of, require_user, route
from toolkit.web.forms import form_fields, see_other
from toolkit.web.policy import require_acknowledged
from toolkit.web.public import sign_out
from toolkit.web.templating import render


async def home(request: Request) -> Response:
    """The feed: approved, currently valid example posts, newest first."""
    user = require_user(request)
    portal = portal_of(request)
    portal.crisis.ensure_calm()
    if (gate := await require_acknowledged(request)) is not None:
        return gate
    campaign = request.query_params.get("campaign") or None
    language = request.query_params.get("lang") or None
    everything = portal.posts.feed()
    shown_language = language or current_language.get()

    def card_text(post: Post) -> str:
        """The opening the card shows, in this person's words, as the composer will start."""
        return first_lines(portal.posts.body_for(post.variant(None, shown_language), user))

    context = {
        "posts": portal.posts.feed(campaign=campaign, language=language),
        "campaigns": portal.posts.campaigns(everything), "campaign": campaign or "", "lang": language or "",
        "post_languages": LANGUAGES, "card_text": card_text,
        "profile_incomplete": not (user.first_name and user.job_title),
    }
    return render(request, "employee/feed.html", context)


def first_lines(text: str, limit: int = 180) -> str:
    """The opening of a caption for a card: its first paragraph, cut at a word."""
    head = text.strip().split("\n\n")[0]
    return head if len(head) <= limit else head[:limit].rsplit(" ", 1)[0] + "…"


async def profile_page(request: Request) -> Response:
    return render(
        request, "employee/profile.html", {"saved": request.query_params.get("saved") == "1", "error": None}
    )


async def save_profile(request: Request) -> Response:
    user = require_user(request)
    fields = await form_fields(request)
    values: dict[str, object] = {k: v for k, v in fields.items() if k in PROFILE_FIELDS}
    values["leaderboard_opt_out"] = fields.get("leaderboard_opt_out") == "on"
    try:
        await run_in_threadpool(portal_of(request).accounts.update_profile, user, values)
    except Invalid as exc:
        return render(
            request, "employee/profile.html", {"saved": False, "error": exc.text(gettext)}, status=422
        )
    return see_other("/profile?saved=1")


async def sign_out_everywhere(request: Request) -> Response:
    """End every session of this person, on every browser and instance, this one included."""
    user = require_user(request)
    await run_in_threadpool(portal_of(request).accounts.end_all_sessions, user)
    return sign_out(request, see_other("/login"))


routes = [
    route("/", home, allow=Allow.employee),
    route("/profile", profile_page, allow=Allow.employee),
    route("/profile", save_profile, allow=Allow.employee, methods=["POST"], name="save_profile"),
    route("/profile/sign-out-everywhere", sign_out_everywhere, allow=Allow.employee, methods=["POST"]),
]
