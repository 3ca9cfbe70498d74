"""Example posts: marketing writes and approves them; employees make them their own.

A post holds caption variants (language, tone), hashtags (curated sets plus extras), an image
(asset and preset) with an optional headline, an optional target link, and a validity window.
Workflow: draft -> approved -> archived. Only live posts (approved, inside their window) reach
employees, and a post leaves the feed by itself when its window closes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from toolkit.accounts import User, iso, now
from toolkit.audit import AuditLog
from toolkit.compose import (
    LintWarning,
    Profile,
    compose_text,
    fill_placeholders,
    fold_index,
    linkedin_share_url,
    lint,
    pick_variant,
)
from toolkit.counters import USE_METRICS, Counters
from toolkit.errors import N_, Conflict, Invalid, NotFound
from toolkit.fields import text_field
from toolkit.hashtag_sets import HashtagSets
from toolkit.hashtags import hashtag_key, normalise_hashtags
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS
from toolkit.records import Record, Records, new_id

KIND = "posts"
STATUSES = ("draft", "approved", "archived")
LANGUAGES = ("en", "nl")
CHANNELS = ("linkedin", "instagram")
MAX_TEXT = 10_000
MAX_VARIANTS = 12
USAGE_WINDOW_DAYS = 90
# What a client may set on a post; the API refuses any other field (422 naming it).
EDITABLE = (
    "title",
    "campaign",
    "variants",
    "hashtag_set_ids",
    "extra_hashtags",
    "asset_id",
    "preset",
    "headline",
    "link",
    "valid_from",
    "valid_until",
    "channel",
)


@dataclass(frozen=True)
class Variant:
    id: str
    language: str
    tone: str
    text: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "language": self.language, "tone": self.tone, "text": self.text}


@dataclass(frozen=True)
class Post:
    id: str
    title: str
    campaign: str
    variants: tuple[Variant, ...]
    hashtag_set_ids: tuple[str, ...] = ()
    extra_hashtags: tuple[str, ...] = ()
    asset_id: str | None = None
    preset: str = DEFAULT_PRESET
    headline: str = ""
    link: str = ""
    valid_from: str | None = None
    valid_until: str | None = None
    channel: str = "linkedin"
    status: str = "draft"
    created_at: str = ""
    created_by: str = ""
    updated_at: str = ""
    approved_at: str | None = None
    version: str = field(default="", compare=False)

    @classmethod
    def from_record(cls, record: Record) -> Post:
        data = dict(record.data)
        variants = tuple(Variant(**v) for v in data.pop("variants", []))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("hashtag_set_ids", "extra_hashtags"):
            known[key] = tuple(known.get(key, ()))
        return cls(id=record.id, variants=variants, version=record.version, **known)

    def to_data(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "campaign": self.campaign,
            "variants": [v.public() for v in self.variants],
            "hashtag_set_ids": list(self.hashtag_set_ids),
            "extra_hashtags": list(self.extra_hashtags),
            "asset_id": self.asset_id,
            "preset": self.preset,
            "headline": self.headline,
            "link": self.link,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "channel": self.channel,
            "status": self.status,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "approved_at": self.approved_at,
        }

    def public(self, *, staff: bool = True) -> dict[str, Any]:
        """The post as the API shows it; who in marketing wrote it (a user id) only to staff."""
        data = {"id": self.id, "version": self.version, **self.to_data()}
        return data if staff else data | {"created_by": ""}

    def is_live(self, moment: datetime | None = None) -> bool:
        """Approved and inside its validity window: what employees may see."""
        moment = moment or now()
        if self.status != "approved":
            return False
        if self.valid_from and datetime.fromisoformat(self.valid_from) > moment:
            return False
        return not (self.valid_until and datetime.fromisoformat(self.valid_until) <= moment)

    def variant(self, variant_id: str | None = None, language: str | None = None) -> Variant:
        if variant_id:
            for variant in self.variants:
                if variant.id == variant_id:
                    return variant
            raise NotFound(N_("This post has no such variant."))
        for variant in self.variants:
            if not language or variant.language == language:
                return variant
        return self.variants[0]

    def languages(self) -> list[str]:
        return sorted({v.language for v in self.variants})

    @property
    def sort_moment(self) -> str:
        return self.valid_from or self.approved_at or self.created_at


@dataclass(frozen=True)
class Composition:
    """The composed text and everything the preview shows about it."""

    text: str
    variant_id: str
    language: str
    hashtags: tuple[str, ...]
    length: int
    fold_at: int
    warnings: tuple[LintWarning, ...]
    linkedin_url: str

    def public(self, translate: Callable[[str], str] = str) -> dict[str, Any]:
        return {
            "text": self.text,
            "variant": self.variant_id,
            "language": self.language,
            "hashtags": list(self.hashtags),
            "length": self.length,
            "fold_at": self.fold_at,
            "warnings": [
                {
                    "code": w.code,
                    "message": translate(w.message) % w.params if w.params else translate(w.message),
                }
                for w in self.warnings
            ],
            "linkedin_url": self.linkedin_url,
        }


def profile_of(user: User) -> Profile:
    return Profile(first_name=user.first_name, name=user.name, job_title=user.job_title, team=user.team)


def _moment(value: Any, label: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # In UTC a moment at the very edge of the calendar (year 1 or 9999) can leave it.
        return iso(moment)
    except (ValueError, OverflowError):
        raise Invalid(
            N_("%(field)s is not a date and time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)."), field=label
        ) from None


def _link(value: Any) -> str:
    link = text_field({"link": value}, "link")
    if not link:
        return ""
    try:
        parts = urlsplit(link)
    except ValueError:  # e.g. an unclosed IPv6 bracket: http://[::1
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in link):
        raise Invalid(N_("The link must be a full web address starting with https://."))
    return link


class Posts:
    def __init__(
        self,
        records: Records,
        audit: AuditLog,
        hashtag_sets: HashtagSets,
        counters: Counters,
        on_approved: Callable[[Post], None] | None = None,
    ) -> None:
        self.records = records
        self.audit = audit
        self.hashtag_sets = hashtag_sets
        self.counters = counters
        self.on_approved = on_approved

    # Reading

    def get(self, post_id: str) -> Post | None:
        record = self.records.get(KIND, post_id)
        return Post.from_record(record) if record else None

    def require(self, post_id: str) -> Post:
        post = self.get(post_id)
        if post is None:
            raise NotFound(N_("No such post."))
        return post

    def visible(self, user: User, post_id: str) -> Post:
        """Marketing sees every post; employees only live ones, and 404 for the rest (no leaks)."""
        post = self.get(post_id)
        if post is None or (not user.is_marketing and not post.is_live()):
            raise NotFound(N_("No such post."))
        return post

    def all(self, *, status: str | None = None, campaign: str | None = None) -> list[Post]:
        posts = [Post.from_record(r) for r in self.records.all(KIND)]
        posts = [
            p
            for p in posts
            if (not status or p.status == status) and (not campaign or p.campaign == campaign)
        ]
        return sorted(posts, key=lambda p: p.updated_at or p.created_at, reverse=True)

    def feed(self, *, campaign: str | None = None, language: str | None = None) -> list[Post]:
        """What employees see: live posts, newest first, optionally one campaign or language."""
        moment = now()
        posts = [Post.from_record(r) for r in self.records.all(KIND)]
        live = [
            p
            for p in posts
            if p.is_live(moment)
            and (not campaign or p.campaign == campaign)
            and (not language or language in p.languages())
        ]
        return sorted(live, key=lambda p: p.sort_moment, reverse=True)

    def campaigns(self, posts: list[Post]) -> list[str]:
        return sorted({p.campaign for p in posts if p.campaign}, key=str.lower)

    def hashtags_of(self, post: Post) -> list[str]:
        """The post's sets in order, then its extras, each hashtag once."""
        tags: list[str] = []
        for set_id in post.hashtag_set_ids:
            found = self.hashtag_sets.get(set_id)
            if found:
                tags.extend(found.hashtags)
        tags.extend(post.extra_hashtags)
        return normalise_hashtags(tags) if tags else []

    def used_by(self, asset_id: str) -> list[Post]:
        return [p for p in self.all() if p.asset_id == asset_id]

    # Writing (marketing)

    def _validate(self, values: Mapping[str, Any], base: Post | None) -> dict[str, Any]:
        data = base.to_data() if base else {}
        data.update({k: v for k, v in values.items() if k in EDITABLE})
        title = text_field(data, "title")
        if not title or len(title) > 200:
            raise Invalid(N_("Give the post a title of at most 200 characters."))
        raw_variants = data.get("variants") or []
        if not isinstance(raw_variants, list) or not raw_variants:
            raise Invalid(N_("Write at least one caption variant."))
        if len(raw_variants) > MAX_VARIANTS:
            raise Invalid(N_("A post can have at most %(n)s variants."), n=MAX_VARIANTS)
        variants = []
        seen_ids: set[str] = set()
        for n, raw in enumerate(raw_variants):
            if not isinstance(raw, Mapping):
                raise Invalid(N_("Each variant needs a language, a tone and a text."))
            label = f"variants[{n}]"
            text = text_field(raw, "text", multiline=True, label=f"{label}.text")
            if not text:
                raise Invalid(N_("A caption variant is empty."))
            if len(text) > MAX_TEXT:
                raise Invalid(N_("A caption variant is longer than %(n)s characters."), n=MAX_TEXT)
            language = text_field(raw, "language", label=f"{label}.language") or "en"
            if language not in LANGUAGES:
                raise Invalid(N_("Unknown language '%(language)s': use en or nl."), language=language)
            variant_id = text_field(raw, "id", label=f"{label}.id") or new_id()[:8]
            if variant_id in seen_ids:
                variant_id = new_id()[:8]
            seen_ids.add(variant_id)
            variants.append(
                {
                    "id": variant_id,
                    "language": language,
                    "tone": text_field(raw, "tone", label=f"{label}.tone")[:40],
                    "text": text,
                }
            )
        raw_set_ids = data.get("hashtag_set_ids") or []
        if not isinstance(raw_set_ids, list):
            raise Invalid(N_("hashtag_set_ids must be a list of hashtag set ids."))
        set_ids = [str(s) for s in raw_set_ids]
        for set_id in set_ids:
            self.hashtag_sets.require(set_id)
        extra = data.get("extra_hashtags") or []
        if not isinstance(extra, list | str):
            raise Invalid(N_("Hashtags must be a list or a comma-separated text."))
        asset_id = data.get("asset_id") or None
        if asset_id is not None and self.records.get("assets", str(asset_id)) is None:
            raise Invalid(N_("The chosen image does not exist."))
        preset = text_field(data, "preset") or DEFAULT_PRESET
        if preset not in PRESETS:
            raise Invalid(N_("Unknown image size '%(preset)s'."), preset=preset)
        channel = text_field(data, "channel") or "linkedin"
        if channel not in CHANNELS:
            raise Invalid(N_("Unknown channel '%(channel)s': use linkedin or instagram."), channel=channel)
        valid_from = _moment(data.get("valid_from"), "valid_from")
        valid_until = _moment(data.get("valid_until"), "valid_until")
        if valid_from and valid_until and valid_until <= valid_from:
            raise Invalid(N_("'Valid until' must come after 'valid from'."))
        return {
            "title": title,
            "campaign": text_field(data, "campaign")[:120],
            "variants": variants,
            "hashtag_set_ids": set_ids,
            "extra_hashtags": normalise_hashtags(extra) if extra else [],
            "asset_id": asset_id,
            "preset": preset,
            "headline": text_field(data, "headline")[:140],
            "link": _link(data.get("link")),
            "valid_from": valid_from,
            "valid_until": valid_until,
            "channel": channel,
        }

    def draft_from(self, values: Mapping[str, Any]) -> Post:
        """An unsaved post from form values, for previews; validated like a saved one."""
        data = self._validate(values, None)
        return Post.from_record(Record(KIND, "preview", "", data))

    def create(self, values: Mapping[str, Any], actor: User) -> Post:
        data = self._validate(values, None)
        stamp = iso(now())
        data.update(status="draft", created_at=stamp, created_by=actor.id, updated_at=stamp, approved_at=None)
        record = self.records.create(KIND, new_id(), data)
        self.audit.record(
            actor, "post.create", KIND, record.id, None, record.version, {"title": data["title"]}
        )
        return Post.from_record(record)

    def update(
        self, post_id: str, values: Mapping[str, Any], actor: User, *, version: str | None = None
    ) -> Post:
        """Edit; an approved post stays live and the change is in the audit log. A live post may
        switch only to an image employees may see (as approve requires), or it would show them a
        draft's alt text."""
        current = self._current(post_id, version)
        data = current.to_data() | self._validate(values, current)
        if current.status == "approved" and data["asset_id"] and data["asset_id"] != current.asset_id:
            self._require_shareable_image(str(data["asset_id"]))
        data["updated_at"] = iso(now())
        record = self.records.update(
            KIND, post_id, data, version=version or current.version, client_version=version is not None
        )
        changed = sorted(k for k in data if data[k] != current.to_data().get(k) and k != "updated_at")
        self.audit.record(
            actor,
            "post.update",
            KIND,
            post_id,
            current.version,
            record.version,
            {"fields": changed, "status": current.status},
        )
        return Post.from_record(record)

    def _current(self, post_id: str, version: str | None) -> Post:
        """The post a change with this If-Match version applies to; PreconditionFailed when stale."""
        self.require(post_id)
        return Post.from_record(self.records.at_version(KIND, post_id, version))

    def _set_status(self, post_id: str, status: str, actor: User, action: str) -> Post:
        current = self.require(post_id)
        if current.status == status:
            return current
        data = current.to_data() | {"status": status, "updated_at": iso(now())}
        if status == "approved":
            data["approved_at"] = iso(now())
        record = self.records.update(KIND, post_id, data, version=current.version)
        self.audit.record(
            actor, action, KIND, post_id, current.version, record.version, {"title": current.title}
        )
        post = Post.from_record(record)
        if status == "approved" and self.on_approved is not None:
            self.on_approved(post)
        return post

    def approve(
        self, post_id: str, actor: User, *, approve_image: Callable[[str], object] | None = None
    ) -> Post:
        """Put a post live. Its image must be one employees may see, or they would get a post whose
        image (and its alt text) is a draft: an image that is not approved is refused (Invalid,
        naming it) unless approve_image is given, which is called with the image's id to approve
        it first (both in one step); an image whose rights or consent have ended is refused."""
        current = self.require(post_id)
        if current.status != "approved" and current.asset_id:
            self._require_shareable_image(current.asset_id, approve_image)
        return self._set_status(post_id, "approved", actor, "post.approve")

    def _require_shareable_image(
        self, asset_id: str, approve_image: Callable[[str], object] | None = None
    ) -> None:
        """Refuse (Invalid, naming the image) an image employees may not see for a live post: one
        that does not exist, whose rights or consent have ended, or that is not approved (unless
        approve_image is given, which is then called with its id to approve it)."""
        from toolkit.assets import ASSETS, Asset, today

        record = self.records.get(ASSETS, asset_id)
        if record is None:
            raise Invalid(N_("The chosen image does not exist."))
        image = Asset.from_record(record)
        if image.expires is not None and today() >= image.expires:
            raise Invalid(
                N_(
                    "The post's image “%(title)s” may no longer be shared since %(date)s (its rights "
                    "or consent ended). Choose another image before approving the post."
                ),
                title=image.title,
                date=image.expires.isoformat(),
            )
        if image.status != "approved":
            if approve_image is None:
                raise Invalid(
                    N_(
                        "The post's image “%(title)s” is not approved, so employees would not see "
                        "it. Approve the image first, or approve the post together with its image."
                    ),
                    title=image.title,
                )
            approve_image(image.id)

    def archive(self, post_id: str, actor: User) -> Post:
        return self._set_status(post_id, "archived", actor, "post.archive")

    def delete(self, post_id: str, actor: User, *, version: str | None = None) -> None:
        """Remove a draft or archived post; a live one is archived first, so nothing vanishes by accident."""
        current = self._current(post_id, version)
        if current.status == "approved":
            raise Conflict(N_("Archive the post before deleting it: it is live for employees."))
        self.records.delete(KIND, post_id, version=current.version)
        self.audit.record(
            actor, "post.delete", KIND, post_id, current.version, None, {"title": current.title}
        )

    # Composing (employees)

    def variant_usage(self, post: Post) -> dict[str, int]:
        """How many colleagues used each variant recently (distinct people), from an in-memory tally."""
        since = now().date() - timedelta(days=USAGE_WINDOW_DAYS)
        used = self.counters.variant_users(post.id, since)
        return {v.id: used.get(v.id, 0) for v in post.variants}

    def surprise_variant(
        self, post: Post, language: str | None = None, rng: random.Random | None = None
    ) -> Variant:
        """The variant the fewest colleagues have used, so twenty people do not post one sentence."""
        candidates = [v for v in post.variants if not language or v.language == language] or list(
            post.variants
        )
        chosen = pick_variant(self.variant_usage(post), [v.id for v in candidates], rng)
        return post.variant(chosen)

    def body_for(self, variant: Variant, user: User) -> str:
        """The editable text a person starts from: the variant with their details filled in."""
        return fill_placeholders(variant.text, profile_of(user))

    def compose(
        self,
        post: Post,
        user: User,
        *,
        variant_id: str | None = None,
        language: str | None = None,
        body: str | None = None,
        hashtags: list[str] | None = None,
        fold_at: int = 210,
    ) -> Composition:
        """The text for this person: placeholders filled, their edits and hashtag choices applied."""
        variant = post.variant(variant_id, language)
        if body is None:
            body = fill_placeholders(variant.text, profile_of(user))
        body = body.replace("\r\n", "\n")
        if len(body) > MAX_TEXT:
            raise Invalid(N_("The text is longer than %(n)s characters."), n=MAX_TEXT)
        offered = self.hashtags_of(post)
        if hashtags is None:
            chosen = offered
        else:
            keep = {hashtag_key(t) for t in normalise_hashtags(hashtags)} if hashtags else set()
            # Employees may remove hashtags, not invent new ones through this door.
            chosen = [t for t in offered if hashtag_key(t) in keep]
        text = compose_text(body, chosen, post.link or None)
        return Composition(
            text=text,
            variant_id=variant.id,
            language=variant.language,
            hashtags=tuple(chosen),
            length=len(text),
            fold_at=fold_index(text, fold_at),
            warnings=tuple(lint(text, fold_at=fold_at, link=post.link or None)),
            linkedin_url=linkedin_share_url(text),
        )

    def record_use(self, post: Post, user: User, action: str, variant_id: str = "") -> None:
        if action not in USE_METRICS:
            raise Invalid(N_("Unknown action '%(action)s'."), action=action)
        if variant_id:
            # Counter keys come only from known ids: an unknown variant is NotFound, never counted.
            post.variant(variant_id)
        self.counters.add(action, post.id, user.id, variant_id)
