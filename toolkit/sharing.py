"""Tracked share links: one public address per (post, employee) that LinkedIn can preview.

A share link is a record (kind "share-links") whose id is the token in the URL: 128 random bits
that say nothing about the post or the person. A claim record (kind "share-link-owners", id
"<post>.<user>") points at the current token and is created with If-None-Match, so two instances
asked at the same moment still hand out one link.

Clicks are counted per (post, sharer, day) through portal.counters; nothing about the person who
clicks is ever stored. Whether a visitor is a link-preview crawler is decided here from the
User-Agent alone, which is read and forgotten. A client (address and User-Agent) counts once per
link per day on each instance, remembered only as a salted hash in memory (ClickDedupe).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from crawleruseragents import is_crawler as known_crawler  # type: ignore[import-untyped]

from toolkit.accounts import Accounts, User, iso, now
from toolkit.assets import Asset, Assets
from toolkit.audit import AuditLog
from toolkit.compose import fill_placeholders
from toolkit.counters import Counters
from toolkit.crisis import Crisis
from toolkit.errors import N_, Conflict, Gone, Invalid, NotFound
from toolkit.kits import slug
from toolkit.posts import Composition, Post, Posts, profile_of
from toolkit.records import Record, Records
from toolkit.settings import Settings
from toolkit.store import Store

if TYPE_CHECKING:
    from toolkit.portal import Portal

log = logging.getLogger(__name__)

LINKS = "share-links"
OWNERS = "share-link-owners"
SETTINGS = "settings"
LAYOUT_ID = "share-link-layout"
TOKEN_BYTES = 16  # 128 bits
SHARE_PRESET = "linkedin-landscape"  # 1200x627, what LinkedIn's card shows uncropped
SHARE_IMAGE_WIDTH = 1200
SHARE_IMAGE_HEIGHT = 627
DESCRIPTION_LENGTH = 200
UTM_SOURCE = "linkedin"
UTM_MEDIUM = "employee_advocacy"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")

# token_urlsafe output; anything else cannot be a token and is answered without touching the store.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

# Link-preview fetchers, search engines and other robots, matched case-insensitively anywhere in the
# User-Agent. They get the preview page and are never counted as clicks.
CRAWLER_MARKERS = (
    "linkedinbot",
    "twitterbot",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "whatsapp",
    "telegrambot",
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "bingbot",
    "bingpreview",
    "msnbot",
    "applebot",
    "duckduckbot",
    "yandex",
    "baiduspider",
    "embedly",
    "redditbot",
    "skypeuripreview",
    "microsoftpreview",
    "iframely",
    "pinterest",
    "mastodon",
    "bluesky",
    "vkshare",
    "xing-contenttabreceiver",
    "qwantify",
    "petalbot",
    "semrushbot",
    "ahrefsbot",
    "crawler",
    "spider",
    # Programs, not people: HTTP libraries and command-line tools, and browsers without a screen.
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-httpx",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "node-fetch",
    "undici",
    "axios/",
    "libwww-perl",
    "+http",  # "(compatible; SomeBot/1.0; +http://example.com/bot)" is how robots sign themselves
)
# Long enough for every real browser's User-Agent; matching ~1,500 patterns costs time per character.
_AGENT_CHARS = 512


def is_crawler(user_agent: str | None) -> bool:
    """Whether a request comes from a link-preview crawler, another robot or a program, not a person.

    A missing User-Agent is treated as a robot: every browser sends one. Besides the markers above,
    the patterns of crawler-user-agents (a list of ~1,500 robots kept up to date by its maintainers).
    """
    agent = (user_agent or "").strip()[:_AGENT_CHARS]
    if not agent:
        return True
    lowered = agent.lower()
    # Not cached: a cache would keep visitors' User-Agents in memory, and a check costs ~0.3 ms.
    return any(marker in lowered for marker in CRAWLER_MARKERS) or bool(known_crawler(agent))


class ClickDedupe:
    """Which (share link, client) pairs were counted today, kept by this instance only.

    Only salted hashes are held, in memory, never stored or logged: the salt is random per instance
    and replaced, with every hash, when the (UTC) day changes, so yesterday's hashes cannot be
    tested against anyone. At most max_entries are held; past that the oldest are forgotten (one
    of those clicking again the same day would count again, which is all an overflow can cost).
    """

    def __init__(self, max_entries: int = 100_000, *, today: Callable[[], str] | None = None) -> None:
        self.max_entries = max_entries
        self._today = today or (lambda: now().date().isoformat())
        self._lock = threading.Lock()
        self._day = ""
        self._salt = b""
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def first_today(self, token: str, client: str) -> bool:
        """True the first time this client is seen for this token today; False after that."""
        with self._lock:
            day = self._today()
            if day != self._day:
                self._day, self._salt = day, secrets.token_bytes(16)
                self._seen.clear()
            mark = hashlib.blake2b(
                f"{token}\n{client}".encode("utf-8", "replace"), key=self._salt, digest_size=12
            ).digest()
            if mark in self._seen:
                return False
            self._seen[mark] = None
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._seen)


def new_token() -> str:
    """128 random bits, URL-safe; unrelated to any id."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def plain_summary(text: str, limit: int = DESCRIPTION_LENGTH) -> str:
    """The opening of a text on one line, cut at a word near limit characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + "…"


def campaign_slug(campaign: str) -> str:
    return slug(campaign, fallback="toolkit")


def tracked_url(target: str, post: Post) -> str:
    """target with the advocacy UTM parameters: other parameters kept byte for byte, our four
    replaced if present, the fragment kept."""
    parts = urlsplit(target)
    ours = {
        "utm_source": UTM_SOURCE,
        "utm_medium": UTM_MEDIUM,
        "utm_campaign": campaign_slug(post.campaign),
        "utm_content": post.id,
    }
    kept = [
        piece
        for piece in parts.query.split("&")
        if piece and unquote_plus(piece.split("=", 1)[0]) not in ours
    ]
    added = [f"{key}={quote(value, safe='')}" for key, value in ours.items()]
    return urlunsplit(parts._replace(query="&".join(kept + added)))


@dataclass(frozen=True)
class ShareLink:
    token: str
    post_id: str
    user_id: str
    created_at: str
    revoked: bool = False
    revoked_at: str | None = None
    revoked_by: str | None = None
    version: str = field(default="", compare=False)

    @classmethod
    def from_data(cls, token: str, data: dict[str, Any], version: str = "") -> ShareLink:
        return cls(
            token=token,
            post_id=str(data.get("post_id", "")),
            user_id=str(data.get("user_id", "")),
            created_at=str(data.get("created_at", "")),
            revoked=bool(data.get("revoked", False)),
            revoked_at=data.get("revoked_at"),
            revoked_by=data.get("revoked_by"),
            version=version,
        )

    @classmethod
    def from_record(cls, record: Record) -> ShareLink:
        return cls.from_data(record.id, record.data, record.version)

    def to_data(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "revoked": self.revoked,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True)
class SharePage:
    """What the public page of a link shows: nothing but the post as its sharer would share it."""

    link: ShareLink
    post: Post
    title: str
    description: str
    text: str
    language: str
    image: Asset | None
    target: str | None  # the tracked destination, or None when the post has no link


class Sharing:
    """Service `portal.sharing`."""

    def __init__(
        self,
        records: Records,
        store: Store,
        audit: AuditLog,
        accounts: Accounts,
        posts: Posts,
        assets: Assets,
        crisis: Crisis,
        counters: Counters,
        settings: Callable[[], Settings],
    ) -> None:
        self.records = records
        self.store = store
        self.audit = audit
        self.accounts = accounts
        self.posts = posts
        self.assets = assets
        self.crisis = crisis
        self.counters = counters
        self.settings = settings
        self.clicks_seen = ClickDedupe()

    # Reading

    def url(self, token: str) -> str:
        return f"{self.settings().base_url.rstrip('/')}/s/{token}"

    def image_url(self, token: str) -> str:
        return f"{self.url(token)}/image.jpg"

    def get(self, token: str) -> ShareLink | None:
        """The link, from the bounded cache or the store (share links are read on demand).

        LinkedIn fetches a link the moment it is pasted, often on another instance than the one that
        made it; the store read finds it there. Unknown tokens are remembered as unknown, so random
        guesses cost one read each at most. May read the store: call it from a worker thread.
        """
        if not _TOKEN.match(token):
            return None
        record = self.records.get(LINKS, token)
        return ShareLink.from_record(record) if record is not None else None

    def existing(self, post: Post, user: User) -> ShareLink | None:
        """The person's working link to this post, if they made one. May read the store."""
        claim = self._claim(post.id, user.id)
        if claim is None:
            return None
        link = self.get(str(claim.data.get("token", "")))
        return link if link and not link.revoked else None

    def links_of(self, user: User) -> list[ShareLink]:
        """Every link this person made, newest first (revoked ones included).

        One listing of the person's claims, never of everyone's links. Reads the store.
        """
        tokens = [
            token
            for claim in self.records.scan(OWNERS, f"{user.id}.")
            for token in [claim.data.get("token"), *claim.data.get("previous", [])]
            if isinstance(token, str)
        ]
        links = [
            ShareLink.from_record(record)
            for record in self.records.get_many(LINKS, tokens)
            if record is not None and record.data.get("user_id") == user.id
        ]
        return sorted(links, key=lambda link: link.created_at, reverse=True)

    def _claim(self, post_id: str, user_id: str) -> Record | None:
        return self.records.get(OWNERS, claim_id(post_id, user_id))

    # Making and revoking

    def link_for(self, post: Post, user: User) -> ShareLink:
        """This person's one stable link to this post, made on first request.

        Counted as metric "share_link" once, when it is made. After a revocation the next request
        makes a fresh token. Store I/O: call from a worker thread.
        """
        self.crisis.ensure_calm()
        if not post.is_live():
            raise Invalid(N_("Only approved posts inside their validity window can be shared."))
        owner_id = claim_id(post.id, user.id)
        for _ in range(5):
            claim = self.records.get(OWNERS, owner_id)
            if claim is not None:
                current = self.get(str(claim.data.get("token", "")))
                if current is not None and not current.revoked:
                    return current
            moment = iso(now())
            token = new_token()
            link = ShareLink(token, post.id, user.id, moment)
            # The link first, then the claim that points to it: a crash in between leaves an
            # unreachable link record, never a claim pointing at nothing.
            record = self.records.create(LINKS, token, link.to_data())
            claim_data = claim_record(link, claim.data if claim else None)
            try:
                if claim is None:
                    self.records.create(OWNERS, owner_id, claim_data)
                else:
                    self.records.update(OWNERS, owner_id, claim_data, version=claim.version)
            except Conflict:
                # Another request (maybe on another instance) won; its link is the one.
                self.records.delete(LINKS, token)
                continue
            self.counters.add("share_link", post.id, user.id)
            return ShareLink.from_record(record)
        raise Conflict()

    def revoke(self, token: str, actor: User) -> ShareLink:
        """Stop a link working (410 from then on). Its owner or marketing may; audited."""
        link = self.get(token)
        if link is None or not (actor.is_marketing or actor.id == link.user_id):
            raise NotFound(N_("No such share link."))
        if link.revoked:
            return link
        current = self.records.get(LINKS, token)
        version = current.version if current else link.version
        revoked = ShareLink(
            link.token, link.post_id, link.user_id, link.created_at, True, iso(now()), actor.id
        )
        record = self.records.update(LINKS, token, revoked.to_data(), version=version)
        self.audit.record(
            actor,
            "share_link.revoke",
            LINKS,
            token,
            version,
            record.version,
            {"post_id": link.post_id, "owner": link.user_id},
        )
        return ShareLink.from_record(record)

    # The public side

    def resolve(self, token: str) -> tuple[ShareLink, Post]:
        """The working link and its post; Gone (410) for an unknown or revoked token, a post that
        is archived or outside its validity window, and while crisis mode is on."""
        if self.crisis.active:
            raise Gone()
        link = self.get(token)
        if link is None or link.revoked:
            raise Gone()
        post = self.posts.get(link.post_id)
        if post is None or not post.is_live():
            raise Gone()
        return link, post

    def image_of(self, post: Post) -> Asset | None:
        """The post's image if anyone may see it today (approved, rights and consent valid)."""
        if not post.asset_id:
            return None
        try:
            return self.assets.visible(None, post.asset_id)
        except NotFound:
            return None

    def page(self, token: str) -> SharePage:
        """Everything the public page shows; Gone as resolve. May read the store."""
        link, post = self.resolve(token)
        sharer = self.accounts.get(link.user_id) or User(id=link.user_id, email="")
        variant = post.variants[0]
        composed: Composition = self.posts.compose(post, sharer, variant_id=variant.id)
        body = fill_placeholders(variant.text, profile_of(sharer))
        return SharePage(
            link=link,
            post=post,
            title=post.headline or post.title,
            description=plain_summary(body),
            text=composed.text,
            language=variant.language,
            image=self.image_of(post),
            target=tracked_url(post.link, post) if post.link else None,
        )

    def count_click(self, link: ShareLink, client: str | None = None) -> bool:
        """One human click on this person's link to this post, today; whether it counted.

        client: who clicked, as the web layer sees them (address and User-Agent); a client counts
        once per link per day on this instance, and is only held as a salted hash in memory (see
        ClickDedupe). None counts without that check (demo data and tests that make clicks).
        """
        if client is not None and not self.clicks_seen.first_today(link.token, client):
            return False
        self.counters.add("click", link.post_id, link.user_id)
        return True


def claim_id(post_id: str, user_id: str) -> str:
    """The owner claim of (post, person): person first, so one listing finds all of theirs."""
    return f"{user_id}.{post_id}"


def move_legacy_claims(records: Records) -> int:
    """Owner claims made before claims were keyed person first (<post>.<user>) move to
    <user>.<post>, once per store; safe to run on several instances at once. Returns how many moved."""
    if records.get(SETTINGS, LAYOUT_ID) is not None:
        return 0
    moved = 0
    for claim in records.scan(OWNERS):
        post_id, user_id = str(claim.data.get("post_id", "")), str(claim.data.get("user_id", ""))
        if claim.id != f"{post_id}.{user_id}" or claim.id == claim_id(post_id, user_id):
            continue
        with contextlib.suppress(Conflict):
            records.create(OWNERS, claim_id(post_id, user_id), {**claim.data, "previous": []})
        records.delete(OWNERS, claim.id)
        moved += 1
    with contextlib.suppress(Conflict):
        records.create(SETTINGS, LAYOUT_ID, {"share_link_claims": "person-first"})
    if moved:
        log.info("moved %d share link claims to the person-first layout", moved)
    return moved


def claim_record(link: ShareLink, before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The owner claim pointing at link; earlier (revoked) tokens are kept for the person's list."""
    previous = list(before.get("previous", [])) if before else []
    if before and before.get("token") and before["token"] != link.token:
        previous.append(before["token"])
    return {
        "token": link.token,
        "post_id": link.post_id,
        "user_id": link.user_id,
        "updated_at": link.created_at,
        "previous": previous,
    }


def seed(portal: Portal) -> None:
    """DEMO ONLY: the demo employee makes a share link and uses two posts, and the link gets three
    clicks, so the statistics pages show something in `make run`. Real counts start from zero."""
    employee = portal.accounts.by_email("employee@example.com")
    if employee is None:
        return
    live = portal.posts.feed()
    for index, post in enumerate(live[:2]):
        portal.posts.record_use(post, employee, "copy", post.variants[0].id)
        if index == 0:
            link = portal.sharing.link_for(post, employee)
            for _ in range(3):
                portal.sharing.count_click(link)
    portal.counters.flush()
