"""The social media policy: published versions in Markdown, acknowledgements, and the contact point.

Every publication is a new, immutable version record (numbered 1, 2, 3 ...), so older texts stay
readable exactly as people acknowledged them. Acknowledgements are one record per version and
person, created only if absent, so a double click or two instances never count someone twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from toolkit.accounts import Accounts, User, iso, normalise_email, now
from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Invalid, NotFound
from toolkit.i18n import LANGUAGES
from toolkit.markup import render_markdown, summarise_markdown
from toolkit.paths import DEMO
from toolkit.records import Record, Records
from toolkit.settings import Settings

if TYPE_CHECKING:
    from toolkit.portal import Portal

VERSIONS = "policy-versions"
ACKS = "policy-acks"
SETTINGS = "settings"
CONTACT_ID = "contact"

MAX_TEXT = 100_000
SUMMARY_CHARS = 400
MAX_SUMMARY = 1000
CSV_HEADER = ("version", "name", "email", "team", "role", "acknowledged_at")
# Spreadsheets run cells that start with these as formulas; a name like "=HYPERLINK(...)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@lru_cache(maxsize=64)
def _html(source: str) -> str:
    """Versions never change, so their rendering is kept; the key is the text itself."""
    return render_markdown(source)


@dataclass(frozen=True)
class PolicyVersion:
    number: int
    texts: dict[str, str]
    summaries: dict[str, str]
    published_at: str
    published_by: str
    published_by_name: str = ""
    # Languages whose summary marketing wrote by hand (the others were taken from the text's opening).
    written_summaries: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: Record) -> PolicyVersion:
        data = record.data
        return cls(
            number=int(data["number"]),
            texts=dict(data.get("texts", {})),
            summaries=dict(data.get("summaries", {})),
            published_at=str(data.get("published_at", "")),
            published_by=str(data.get("published_by", "")),
            published_by_name=str(data.get("published_by_name", "")),
            written_summaries=tuple(data.get("written_summaries", ())),
        )

    def language_for(self, language: str, fallback: str = "en") -> str:
        """The language this version is shown in: the one asked for if written, else a fallback."""
        for candidate in (language, fallback, *LANGUAGES):
            if self.texts.get(candidate, "").strip():
                return candidate
        return language

    def text(self, language: str, fallback: str = "en") -> str:
        return self.texts.get(self.language_for(language, fallback), "")

    def html(self, language: str, fallback: str = "en") -> str:
        """Sanitised HTML of the text in that language (or the fallback)."""
        return _html(self.text(language, fallback))

    def summary(self, language: str, fallback: str = "en") -> str:
        return self.summaries.get(self.language_for(language, fallback), "")


@dataclass(frozen=True)
class Contact:
    """Who employees ask about the policy or a dilemma."""

    name: str
    email: str
    chat_url: str = ""
    version: str = field(default="", compare=False)


@dataclass(frozen=True)
class Acknowledgement:
    version: int
    user_id: str
    name: str
    email: str
    team: str
    role: str
    acknowledged_at: str


def _ack_id(version: int, user_id: str) -> str:
    return f"{version}-{user_id}"


def _clean_url(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise Invalid(N_("The chat link must be a web address starting with https:// or http://."))
    return value[:500]


def _plain(text: str) -> str:
    """Plain text kept as paragraphs (blank-line separated), each on one line."""
    paragraphs = (" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


class Policy:
    """Service `portal.policy`: versions, acknowledgements and the contact point."""

    def __init__(
        self, records: Records, audit: AuditLog, accounts: Accounts, settings: Callable[[], Settings]
    ) -> None:
        self.records = records
        self.audit = audit
        self.accounts = accounts
        # A callable, not a copy: the portal's settings can be swapped while it runs (tests, reloads).
        self._settings = settings

    # Versions

    def versions(self) -> list[PolicyVersion]:
        """Every published version, newest first."""
        found = [PolicyVersion.from_record(r) for r in self.records.all(VERSIONS)]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def current(self) -> PolicyVersion | None:
        """The newest published version, or None before the first publication."""
        records = self.records.all(VERSIONS)
        if not records:
            return None
        return PolicyVersion.from_record(max(records, key=lambda r: int(r.data["number"])))

    def version(self, number: int) -> PolicyVersion:
        record = self.records.get(VERSIONS, str(number))
        if record is None:
            raise NotFound(N_("There is no version %(number)s of the policy."), number=number)
        return PolicyVersion.from_record(record)

    def publish(
        self,
        texts: Mapping[str, str],
        actor: User,
        *,
        summaries: Mapping[str, str] | None = None,
        based_on: int | None = None,
    ) -> PolicyVersion:
        """Publish the texts (Markdown per language) as the next version.

        summaries: the short plain text shown before the feed, per language; where one is empty,
        the opening paragraphs of the text are used. based_on is the version the editor started
        from; if someone published since, the edit is refused rather than replacing their text.
        """
        summaries = summaries or {}
        unknown = sorted((set(texts) | set(summaries)) - set(LANGUAGES))
        if unknown:
            raise Invalid(N_("Unknown language: %(languages)s."), languages=", ".join(unknown))
        cleaned = {lang: texts.get(lang, "").replace("\r\n", "\n").strip() for lang in LANGUAGES}
        if not any(cleaned.values()):
            raise Invalid(N_("Write the policy in at least one language."))
        for lang, text in cleaned.items():
            if len(text) > MAX_TEXT:
                raise Invalid(
                    N_("The %(language)s text is longer than %(n)s characters."),
                    language=LANGUAGES[lang],
                    n=MAX_TEXT,
                )
        written = {lang: _plain(summaries.get(lang, "")) for lang in LANGUAGES}
        written = {lang: text for lang, text in written.items() if text and cleaned[lang]}
        if any(len(text) > MAX_SUMMARY for text in written.values()):
            raise Invalid(N_("Keep each summary under %(n)s characters."), n=MAX_SUMMARY)
        current = self.current()
        if based_on is not None and (current.number if current else 0) != based_on:
            raise Conflict(
                N_("Someone published a newer version while you were editing. Reload and try again.")
            )
        if (
            current is not None
            and current.texts == {k: v for k, v in cleaned.items() if v}
            and {k: current.summaries[k] for k in current.written_summaries} == written
        ):
            raise Invalid(N_("Nothing changed since version %(number)s."), number=current.number)
        data: dict[str, Any] = {
            "texts": {lang: text for lang, text in cleaned.items() if text},
            "summaries": {
                lang: written.get(lang) or summarise_markdown(text, SUMMARY_CHARS)
                for lang, text in cleaned.items()
                if text
            },
            "written_summaries": sorted(written),
            "published_at": iso(now()),
            "published_by": actor.id,
            "published_by_name": actor.display_name,
        }
        number = (current.number if current else 0) + 1
        try:
            # The numbering is claimed by a create-only write: two publications can never share one.
            record = self.records.create(VERSIONS, str(number), {**data, "number": number})
        except Conflict:
            raise Conflict(
                N_("Someone published a newer version while you were editing. Reload and try again.")
            ) from None
        self.audit.record(
            actor,
            "policy.publish",
            VERSIONS,
            record.id,
            None,
            record.version,
            {"languages": sorted(data["texts"])},
        )
        return PolicyVersion.from_record(record)

    # Acknowledgements

    def needs_ack(self, user: User) -> bool:
        """Whether this person must acknowledge the current version before the feed.

        Only the employee role is held back: marketing and admins write and enforce the policy,
        and their work pages must never be blocked by it (they can still acknowledge on /policy).
        """
        if not self._settings().require_policy_ack or user.role != "employee":
            return False
        current = self.current()
        return current is not None and not self.has_acknowledged(user, current.number)

    def has_acknowledged(self, user: User, number: int) -> bool:
        return self.records.get(ACKS, _ack_id(number, user.id)) is not None

    def acknowledge(self, user: User, number: int | None = None) -> Acknowledgement:
        """Record that the person read the version (default: the current one); saying it twice is fine."""
        version = self.current() if number is None else self.version(number)
        if version is None:
            raise NotFound(N_("No policy has been published yet."))
        data = {
            "version": version.number,
            "user_id": user.id,
            "name": user.display_name,
            "email": user.email,
            "acknowledged_at": iso(now()),
        }
        try:
            record = self.records.create(ACKS, _ack_id(version.number, user.id), data)
        except Conflict:
            record = self.records.require(ACKS, _ack_id(version.number, user.id))
        return self._acknowledgement(record)

    def _acknowledgement(self, record: Record) -> Acknowledgement:
        data = record.data
        person = self.accounts.get(str(data.get("user_id", "")))
        return Acknowledgement(
            version=int(data["version"]),
            user_id=str(data.get("user_id", "")),
            # The current name and team when the person still exists; what was stored otherwise.
            name=person.display_name if person else str(data.get("name", "")),
            email=person.email if person else str(data.get("email", "")),
            team=person.team if person else "",
            role=person.role if person else "",
            acknowledged_at=str(data.get("acknowledged_at", "")),
        )

    def acks_for(self, number: int) -> list[Acknowledgement]:
        """Who acknowledged that version, and when; earliest first."""
        # One listing of that version's acknowledgements (ids start with the number), never all.
        rows = [self._acknowledgement(r) for r in self.records.scan(ACKS, f"{number}-")]
        return sorted(rows, key=lambda a: (a.acknowledged_at, a.email))

    def pending(self, number: int) -> list[User]:
        """Active employees who have not acknowledged that version. Reads the store."""
        acknowledged = {str(r.data.get("user_id")) for r in self.records.scan(ACKS, f"{number}-")}
        return [
            u
            for u in self.accounts.all()
            if u.active and u.role == "employee" and u.id not in acknowledged
        ]

    def csv(self, number: int) -> str:
        """The acknowledgements of a version as CSV: a header line, then one row per person."""
        self.version(number)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        for ack in self.acks_for(number):
            writer.writerow(
                [
                    str(ack.version),
                    _spreadsheet_safe(ack.name),
                    _spreadsheet_safe(ack.email),
                    _spreadsheet_safe(ack.team),
                    ack.role,
                    ack.acknowledged_at,
                ]
            )
        return buffer.getvalue()

    # The contact point

    def contact(self) -> Contact | None:
        """The 'Questions?' contact, from memory (cheap enough for every page)."""
        record = self.records.get(SETTINGS, CONTACT_ID)
        if record is None or not record.data.get("name"):
            return None
        data = record.data
        return Contact(
            name=str(data["name"]),
            email=str(data.get("email", "")),
            chat_url=str(data.get("chat_url", "")),
            version=record.version,
        )

    def set_contact(
        self, name: str, email: str, chat_url: str = "", *, actor: User, version: str | None = None
    ) -> Contact:
        """Set the contact; version (from the form) guards against overwriting someone else's change."""
        name = name.strip()[:200]
        if not name:
            raise Invalid(N_("Give the contact's name."))
        data = {
            "name": name,
            "email": normalise_email(email),
            "chat_url": _clean_url(chat_url),
            "updated_at": iso(now()),
            "updated_by": actor.id,
        }
        existing = self.records.get(SETTINGS, CONTACT_ID)
        if existing is None:
            record = self.records.create(SETTINGS, CONTACT_ID, data)
        else:
            record = self.records.update(SETTINGS, CONTACT_ID, data, version=version or existing.version)
        self.audit.record(
            actor,
            "policy.contact",
            SETTINGS,
            CONTACT_ID,
            existing.version if existing else None,
            record.version,
            {"name": name, "email": data["email"]},
        )
        contact = self.contact()
        assert contact is not None
        return contact


DEMO_SUMMARIES = {
    "en": "Share what you are proud of, in your own words, and keep what is confidential to yourself. "
    "Speak for yourself, not for the company.\n\n"
    "Ask before you post photos of customers or colleagues (GDPR), use only images from this toolkit, "
    "and in a crisis leave the talking to the spokesperson.\n\n"
    "In doubt? Ask the contact at the bottom of every page.",
    "nl": "Deel waar je trots op bent, in je eigen woorden, en houd vertrouwelijke zaken voor je. "
    "Spreek voor jezelf, niet namens het bedrijf.\n\n"
    "Vraag toestemming voordat je foto's van klanten of collega's plaatst (AVG), gebruik alleen beelden "
    "uit deze toolkit, en laat bij een crisis het woord aan de woordvoerder.\n\n"
    "Twijfel je? Vraag het de contactpersoon onderaan elke pagina.",
}

DEMO_CONTACT = {
    "name": "Sanne de Vries",
    "email": "social@example.com",
    "chat_url": "https://chat.example.com/channels/social-media-questions",
}


def seed(portal: Portal) -> None:
    """Demo: the example policy in English and Dutch as version 1, and a contact point."""
    policy = portal.policy
    author = portal.accounts.by_email("marketing@example.com") or next(
        (u for u in portal.accounts.all() if u.is_marketing), None
    )
    if author is None:
        return
    if policy.current() is None:
        texts = {lang: (DEMO / "policy" / f"{lang}.md").read_text(encoding="utf-8") for lang in LANGUAGES}
        try:
            policy.publish(texts, author, summaries=DEMO_SUMMARIES, based_on=0)
        except Conflict:
            pass  # another instance seeded it at the same moment
    if policy.contact() is None:
        try:
            policy.set_contact(
                DEMO_CONTACT["name"], DEMO_CONTACT["email"], DEMO_CONTACT["chat_url"], actor=author
            )
        except Conflict:
            pass
