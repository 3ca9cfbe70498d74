"""The daily expiry check: imagery whose rights or consent run out, and posts about to leave the feed.

Once per day per deployment, however many instances run: the instance that manages to create the
day's record (a create-only write) does the check and keeps the digest in that record, so every
instance can show it; the others find the record taken and skip. Days are UTC days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from toolkit.accounts import Accounts, User, iso, now
from toolkit.errors import Conflict
from toolkit.i18n import translations
from toolkit.mail import build_message, parse_smtp_url, send_messages
from toolkit.records import Record, Records
from toolkit.settings import Settings

if TYPE_CHECKING:
    from toolkit.portal import Portal

log = logging.getLogger(__name__)

RUNS = "daily-runs"
ASSET_DAYS = 30
POST_DAYS = 7
KEEP_RUNS_DAYS = 60
FIRST_CHECK_SECONDS = 30.0  # let a starting instance settle (and its index fill) before the first check
CHECK_EVERY_SECONDS = 600.0  # a new day is noticed within ten minutes of midnight UTC


@dataclass(frozen=True)
class ExpiringAsset:
    id: str
    title: str
    reason: str  # "rights" or "consent"
    expires: str  # YYYY-MM-DD
    days_left: int  # negative: expired that many days ago
    status: str


@dataclass(frozen=True)
class ExpiringPost:
    id: str
    title: str
    valid_until: str
    days_left: int


@dataclass(frozen=True)
class Digest:
    day: str
    ran_at: str = ""
    instance: str = ""
    assets: tuple[ExpiringAsset, ...] = ()
    posts: tuple[ExpiringPost, ...] = ()
    emailed: int = 0
    mail_error: str = ""
    version: str = field(default="", compare=False)

    @property
    def empty(self) -> bool:
        return not self.assets and not self.posts

    def to_data(self) -> dict[str, Any]:
        return {
            "date": self.day,
            "ran_at": self.ran_at,
            "instance": self.instance,
            "assets": [a.__dict__ for a in self.assets],
            "posts": [p.__dict__ for p in self.posts],
            "emailed": self.emailed,
            "mail_error": self.mail_error,
        }

    @classmethod
    def from_record(cls, record: Record) -> Digest:
        data = record.data
        return cls(
            day=str(data.get("date", record.id)),
            ran_at=str(data.get("ran_at", "")),
            instance=str(data.get("instance", "")),
            assets=tuple(ExpiringAsset(**a) for a in data.get("assets", [])),
            posts=tuple(ExpiringPost(**p) for p in data.get("posts", [])),
            emailed=int(data.get("emailed", 0)),
            mail_error=str(data.get("mail_error", "")),
            version=record.version,
        )


def _day(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expiring_assets(records: Records, today: date, days: int = ASSET_DAYS) -> list[ExpiringAsset]:
    """Assets whose rights or consent end within `days`, and approved ones that have already ended."""
    found = []
    for record in records.all("assets"):
        status = str(record.data.get("status", ""))
        if status == "archived":
            continue
        for reason in ("rights", "consent"):
            expires = _day(record.data.get(f"{reason}_expires"))
            if expires is None:
                continue
            days_left = (expires - today).days
            # An expired draft harms nobody; an expired approved asset is a problem until archived.
            if days_left > days or (days_left < 0 and status != "approved"):
                continue
            found.append(
                ExpiringAsset(
                    id=record.id,
                    title=str(record.data.get("title") or record.id),
                    reason=reason,
                    expires=expires.isoformat(),
                    days_left=days_left,
                    status=status,
                )
            )
    return sorted(found, key=lambda a: (a.expires, a.title, a.reason))


def expiring_posts(records: Records, moment: datetime, days: int = POST_DAYS) -> list[ExpiringPost]:
    """Approved posts whose validity ends between now and `days` from now."""
    found = []
    for record in records.all("posts"):
        if record.data.get("status") != "approved":
            continue
        until = _moment(record.data.get("valid_until"))
        if until is None or not moment <= until <= moment + timedelta(days=days):
            continue
        found.append(
            ExpiringPost(
                id=record.id,
                title=str(record.data.get("title") or record.id),
                valid_until=iso(until),
                days_left=(until.astimezone(UTC).date() - moment.astimezone(UTC).date()).days,
            )
        )
    return sorted(found, key=lambda p: (p.valid_until, p.title))


class Notices:
    """Service `portal.notices`: the daily check and its digest."""

    def __init__(
        self, records: Records, accounts: Accounts, settings: Callable[[], Settings], instance: str
    ) -> None:
        self.records = records
        self.accounts = accounts
        self._settings = settings
        self.instance = instance

    def compute(self, moment: datetime | None = None) -> Digest:
        """What the check would find now, from this instance's index (no store I/O)."""
        moment = moment or now()
        today = moment.astimezone(UTC).date()
        return Digest(
            day=today.isoformat(),
            ran_at=iso(moment),
            instance=self.instance,
            assets=tuple(expiring_assets(self.records, today)),
            posts=tuple(expiring_posts(self.records, moment)),
        )

    def run_daily(self, moment: datetime | None = None) -> Digest | None:
        """Run the day's check if no instance has yet; returns the digest if this instance ran it."""
        digest = self.compute(moment)
        if self.records.get(RUNS, digest.day) is not None:
            return None
        try:
            # The claim and the result are one create-only write: exactly one instance wins the day.
            record = self.records.create(RUNS, digest.day, digest.to_data())
        except Conflict:
            return None
        log.info(
            "daily check %s: %d asset(s), %d post(s) expiring",
            digest.day,
            len(digest.assets),
            len(digest.posts),
        )
        digest = Digest.from_record(record)
        if self._settings().smtp_url and not digest.empty:
            digest = self._mail(digest)
        self._forget_old_runs(date.fromisoformat(digest.day))
        return digest

    def latest(self) -> Digest | None:
        """The newest stored digest, whichever instance made it."""
        records = self.records.all(RUNS)
        if not records:
            return None
        return Digest.from_record(max(records, key=lambda r: r.id))

    def recipients(self) -> list[User]:
        """Everyone who sees the notices page (marketing and admins) and has an e-mail address."""
        return [u for u in self.accounts.all() if u.active and u.is_marketing and u.email]

    def mail_digest(self, digest: Digest) -> int:
        """Send the digest to every recipient in their own language; returns how many were sent."""
        settings = self._settings()
        config = parse_smtp_url(settings.smtp_url)
        messages = []
        for user in self.recipients():
            language = user.language or settings.default_language
            subject, body = digest_text(digest, language, settings.base_url)
            messages.append(build_message(settings.mail_from, user.email, subject, body))
        send_messages(config, messages)
        return len(messages)

    def _mail(self, digest: Digest) -> Digest:
        error = ""
        sent = 0
        try:
            sent = self.mail_digest(digest)
        except Exception as exc:  # a mail problem must never stop the check or the instance
            log.error("could not e-mail the daily digest: %s", exc)
            error = str(exc)[:300] or exc.__class__.__name__
        changed = replace(digest, emailed=sent, mail_error=error)
        try:
            record = self.records.update(RUNS, digest.day, changed.to_data(), version=digest.version)
        except Exception:
            log.exception("could not note the e-mail result of the daily check")
            return changed
        return Digest.from_record(record)

    def _forget_old_runs(self, today: date) -> None:
        cutoff = (today - timedelta(days=KEEP_RUNS_DAYS)).isoformat()
        for record in self.records.all(RUNS):
            if record.id < cutoff:
                with contextlib.suppress(Exception):
                    self.records.delete(RUNS, record.id)


def digest_text(digest: Digest, language: str, base_url: str) -> tuple[str, str]:
    """Subject and plain-text body of the digest e-mail in one language."""
    _ = translations(language).gettext
    base = base_url.rstrip("/")
    subject = _("Expiring soon: %(assets)s image(s), %(posts)s post(s)") % {
        "assets": len({a.id for a in digest.assets}),
        "posts": len(digest.posts),
    }
    lines = [_("Daily check of %(day)s.") % {"day": digest.day}, ""]
    if digest.assets:
        lines.append(_("Images whose rights or consent expire within 30 days:"))
        for asset in digest.assets:
            what = _("rights") if asset.reason == "rights" else _("consent")
            if asset.days_left < 0:
                when = _("expired on %(date)s, still approved") % {"date": asset.expires}
            else:
                when = _("expires on %(date)s") % {"date": asset.expires}
            lines.append(f"- {asset.title} ({what}): {when}\n  {base}/library/{asset.id}")
        lines.append("")
    if digest.posts:
        lines.append(_("Posts that leave the feed within 7 days:"))
        for post in digest.posts:
            until = post.valid_until[:16].replace("T", " ")
            lines.append(f"- {post.title}: " + _("until %(date)s UTC") % {"date": until})
            lines.append(f"  {base}/manage/posts/{post.id}")
        lines.append("")
    lines.append(_("See the full list: %(url)s") % {"url": f"{base}/notices"})
    return subject, "\n".join(lines) + "\n"


async def run_daily_checks(
    portal: Portal,
    *,
    first_delay: float | None = None,
    interval: float | None = None,
) -> None:
    """Background loop for the app's lifespan: try the day's check now and then; never raises.

    Cancelling it (at shutdown) stops it between checks; a check already running in its worker
    thread finishes on its own.
    """
    await asyncio.sleep(FIRST_CHECK_SECONDS if first_delay is None else first_delay)
    while True:
        try:
            await asyncio.to_thread(portal.notices.run_daily)
        except Exception as exc:  # an unreachable store is retried at the next interval
            log.error("daily check failed: %s", exc)
        try:
            # Closed days and months into aggregates, once, by whichever instance claims them.
            await asyncio.to_thread(portal.counters.roll_up)
        except Exception as exc:
            log.error("counter roll-up failed: %s", exc)
        await asyncio.sleep(CHECK_EVERY_SECONDS if interval is None else interval)
