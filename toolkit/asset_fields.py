"""The curation fields of an image: which an edit may change, and the rules each one follows."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from toolkit.errors import N_, Invalid
from toolkit.fields import clean_text, strip_invisible, without_control

STATUSES = ("draft", "approved", "archived")
EDITABLE = (
    "title",
    "description",
    "alt_text",
    "tags",
    "status",
    "focal",
    "source",
    "licence",
    "rights_expires",
    "shows_people",
    "consent_expires",
)
TEXT_LIMITS = {"title": 200, "description": 4000, "alt_text": 1000, "source": 300, "licence": 300}
MAX_TAGS = 30
MAX_TAG_LENGTH = 40
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents, so 'Café' is found by 'cafe'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def normalise_tags(raw: Iterable[str] | str) -> list[str]:
    """Tags as people mean them: trimmed, lower case, single spaces, no duplicates, order kept."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise Invalid(N_("Tags must be text."))
        tag = " ".join(item.split()).lower().strip("#")
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise Invalid(N_("The tag '%(tag)s' is longer than %(n)s characters."), tag=tag, n=MAX_TAG_LENGTH)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise Invalid(N_("An image can have at most %(n)s tags."), n=MAX_TAGS)
    return tags


def _iso_date(value: Any, label: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise Invalid(N_("%(field)s must be a date like 2025-12-31."), field=label)


def _focal(value: Any) -> list[float] | None:
    if value in (None, "", []):
        return None
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            x, y = (float(v) for v in value)
        except (TypeError, ValueError):
            x = y = -1.0
        if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
            return [round(x, 4), round(y, 4)]
    raise Invalid(N_("The focal point must be two numbers between 0 and 1 (x, y)."))


def _bool(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(N_("%(field)s must be true or false."), field=label)


def clean_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validated curation fields from an edit; Invalid names the first problem."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Invalid(N_("These fields cannot be changed: %(fields)s."), fields=", ".join(unknown))
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key in TEXT_LIMITS:
            if not isinstance(value, str):
                raise Invalid(N_("%(field)s must be text."), field=key)
            text = clean_text(value, key, multiline=key == "description")
            if key == "title":
                text = " ".join(text.split())
                if not text:
                    raise Invalid(N_("Give the image a title."))
            if len(text) > TEXT_LIMITS[key]:
                raise Invalid(
                    N_("%(field)s is longer than %(n)s characters."), field=key, n=TEXT_LIMITS[key]
                )
            clean[key] = text
        elif key == "tags":
            if not isinstance(value, list | str):
                raise Invalid(N_("Tags must be a list of words or a comma-separated text."))
            clean[key] = normalise_tags(value)
        elif key == "status":
            if value not in STATUSES:
                raise Invalid(
                    N_("Unknown status '%(status)s': use draft, approved or archived."), status=value
                )
            clean[key] = value
        elif key == "focal":
            clean[key] = _focal(value)
        elif key in ("rights_expires", "consent_expires"):
            clean[key] = _iso_date(value, key)
        elif key == "shows_people":
            clean[key] = _bool(value, key)
    return clean


def title_from(filename: str) -> str:
    """A title from an upload's file name: its stem without folders, control characters (a name
    such as "x\\x00evil.png" is cleaned, not refused) or invisible characters at the ends."""
    stem = Path(filename.replace("\\", "/")).name.rsplit(".", 1)[0] if filename else ""
    words = without_control(" ".join(stem.replace("_", " ").split()))
    title = strip_invisible(words)[: TEXT_LIMITS["title"]]
    return title or "Untitled image"
