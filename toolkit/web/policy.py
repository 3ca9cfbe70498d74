"""Policy pages: reading it, acknowledging it, editing it, who acknowledged it, and the contact point."""

from __future__ import annotations

from urllib.parse import quote

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from toolkit.errors import N_, Conflict, Invalid, NotFound
from toolkit.i18n import LANGUAGES, current_language, gettext
from toolkit.markup import render_markdown
from toolkit.policy import Policy, PolicyVersion
from toolkit.web.access import Allow, portal_of, require_user, route, user_of
from toolkit.web.forms import form_fields, safe_next, see_other
from toolkit.web.templating import render


async def require_acknowledged(request: Request) -> RedirectResponse | None:
    """A redirect to the acknowledgement page when this person must first read the policy, else None.

    Call it at the top of a page handler (the feed) and return the redirect when there is one.
    Acknowledgements are read on demand (usually from the cache): never on the event loop.
    """
    user = user_of(request)
    if user is None or not await run_in_threadpool(portal_of(request).policy.needs_ack, user):
        return None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/policy/acknowledge?next={quote(target, safe='')}")


def _policy(request: Request) -> Policy:
    return portal_of(request).policy


def _number(raw: str | None) -> int:
    try:
        number = int(raw or "")
    except ValueError:
        raise NotFound(N_("There is no such version of the policy.")) from None
    if number < 1:
        raise NotFound(N_("There is no such version of the policy."))
    return number


def _shown(request: Request, version: PolicyVersion) -> dict[str, object]:
    """How one version is shown in the reader's language, and whether that had to fall back."""
    wanted = current_language.get()
    language = version.language_for(wanted, portal_of(request).settings.default_language)
    return {
        "version": version,
        "html": Markup(version.html(language)),
        "shown_language": language,
        "fallback": language != wanted,
        "language_name": LANGUAGES.get(language, language),
    }


async def _read_page(request: Request, version: PolicyVersion | None, *, status: int = 200) -> Response:
    policy = _policy(request)
    user = require_user(request)
    current = policy.current()
    context: dict[str, object] = {
        "current": current,
        "versions": policy.versions(),
        "acknowledged": bool(
            current and await run_in_threadpool(policy.has_acknowledged, user, current.number)
        ),
        "published": request.query_params.get("published"),
        "version": None,
    }
    if version is not None:
        context.update(_shown(request, version))
    return render(request, "employee/policy.html", context, status=status)


async def policy_page(request: Request) -> Response:
    return await _read_page(request, _policy(request).current())


async def version_page(request: Request) -> Response:
    number = _number(request.path_params["number"])
    return await _read_page(request, _policy(request).version(number))


async def acknowledge_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    user = require_user(request)
    policy = _policy(request)
    current = policy.current()
    if current is None or await run_in_threadpool(policy.has_acknowledged, user, current.number):
        return see_other(next_url)
    language = current.language_for(current_language.get(), portal_of(request).settings.default_language)
    context = {"version": current, "summary": current.summary(language), "next": next_url}
    return render(request, "employee/policy_acknowledge.html", context)


async def acknowledge(request: Request) -> Response:
    user = require_user(request)
    fields = await form_fields(request)
    next_url = safe_next(fields.get("next"))
    policy = _policy(request)
    current = policy.current()
    if current is None:
        return see_other(next_url)
    if fields.get("version") and fields["version"] != str(current.number):
        # A newer version appeared while the page was open: show that one instead of accepting it unseen.
        return see_other(f"/policy/acknowledge?next={quote(next_url, safe='')}")
    await run_in_threadpool(policy.acknowledge, user, current.number)
    return see_other(next_url)


def _edit_page(
    request: Request,
    texts: dict[str, str],
    summaries: dict[str, str],
    based_on: int,
    *,
    preview: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    previews = {lang: Markup(render_markdown(text)) for lang, text in texts.items()} if preview else {}
    context = {
        "texts": texts,
        "summaries": summaries,
        "based_on": based_on,
        "previews": previews,
        "current": _policy(request).current(),
        "error": error,
    }
    return render(request, "marketing/policy_edit.html", context, status=status)


async def edit_page(request: Request) -> Response:
    current = _policy(request).current()
    texts = {lang: (current.texts.get(lang, "") if current else "") for lang in LANGUAGES}
    # Only hand-written summaries come back for editing; the others follow the new text by themselves.
    summaries = {
        lang: (current.summaries.get(lang, "") if current and lang in current.written_summaries else "")
        for lang in LANGUAGES
    }
    return _edit_page(request, texts, summaries, current.number if current else 0)


async def edit_submit(request: Request) -> Response:
    actor = require_user(request)
    fields = await form_fields(request)
    texts = {lang: fields.get(f"text_{lang}", "") for lang in LANGUAGES}
    summaries = {lang: fields.get(f"summary_{lang}", "") for lang in LANGUAGES}
    try:
        based_on = int(fields.get("based_on", ""))
    except ValueError:
        based_on = -1
    if fields.get("action") != "publish":
        return _edit_page(request, texts, summaries, based_on, preview=True)
    try:
        published = await run_in_threadpool(
            lambda: _policy(request).publish(texts, actor, summaries=summaries, based_on=based_on)
        )
    except (Invalid, Conflict) as exc:
        return _edit_page(
            request, texts, summaries, based_on, preview=True, error=exc.text(gettext), status=exc.status
        )
    return see_other(f"/policy?published={published.number}")


def _chosen_version(request: Request) -> PolicyVersion | None:
    policy = _policy(request)
    raw = request.query_params.get("version")
    return policy.version(_number(raw)) if raw else policy.current()


async def acknowledgements_page(request: Request) -> Response:
    policy = _policy(request)
    version = _chosen_version(request)
    context = {
        "versions": policy.versions(),
        "version": version,
        "rows": await run_in_threadpool(policy.acks_for, version.number) if version else [],
        "pending": await run_in_threadpool(policy.pending, version.number) if version else [],
    }
    return render(request, "marketing/policy_acknowledgements.html", context)


async def acknowledgements_csv(request: Request) -> Response:
    version = _chosen_version(request)
    if version is None:
        raise NotFound(N_("No policy has been published yet."))
    # The byte order mark makes spreadsheet programs read the names as UTF-8.
    body = "\ufeff" + await run_in_threadpool(_policy(request).csv, version.number)
    filename = f"policy-v{version.number}-acknowledgements.csv"
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "private, no-store",
        },
    )


def _contact_page(
    request: Request,
    values: dict[str, str],
    *,
    saved: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = {"values": values, "saved": saved, "error": error}
    return render(request, "admin/contact.html", context, status=status)


async def contact_page(request: Request) -> Response:
    contact = _policy(request).contact()
    values = {
        "name": contact.name if contact else "",
        "email": contact.email if contact else "",
        "chat_url": contact.chat_url if contact else "",
        "version": contact.version if contact else "",
    }
    return _contact_page(request, values, saved=request.query_params.get("saved") == "1")


async def save_contact(request: Request) -> Response:
    actor = require_user(request)
    fields = await form_fields(request)
    values = {key: fields.get(key, "") for key in ("name", "email", "chat_url", "version")}
    try:
        await run_in_threadpool(
            lambda: _policy(request).set_contact(
                values["name"],
                values["email"],
                values["chat_url"],
                actor=actor,
                version=values["version"] or None,
            )
        )
    except (Invalid, Conflict) as exc:
        return _contact_page(request, values, error=exc.text(gettext), status=exc.status)
    return see_other("/admin/contact?saved=1")


routes = [
    route("/policy", policy_page, allow=Allow.employee),
    route("/policy/versions/{number}", version_page, allow=Allow.employee),
    route("/policy/acknowledge", acknowledge_page, allow=Allow.employee),
    route(
        "/policy/acknowledge", acknowledge, allow=Allow.employee, methods=["POST"], name="acknowledge_submit"
    ),
    route("/policy/edit", edit_page, allow=Allow.marketing),
    route("/policy/edit", edit_submit, allow=Allow.marketing, methods=["POST"], name="policy_edit_submit"),
    route("/policy/acknowledgements", acknowledgements_page, allow=Allow.marketing),
    route("/policy/acknowledgements.csv", acknowledgements_csv, allow=Allow.marketing),
    route("/admin/contact", contact_page, allow=Allow.admin),
    route("/admin/contact", save_contact, allow=Allow.admin, methods=["POST"], name="save_contact"),
]
