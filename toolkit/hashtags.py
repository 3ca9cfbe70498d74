"""Hashtags as marketing types them: one spelling per tag, refused with the tag named when LinkedIn
would not link it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from toolkit.errors import N_, Invalid

MAX_HASHTAG_LENGTH = 100
"""Longest hashtag accepted, counted with its leading '#'."""

# Python's \w is Unicode-aware: letters and digits of any script plus '_', which is what LinkedIn
# turns into a link (#Duurzaamheid, #Café); anything else ends the tag in the feed.
_TAG_CHARACTER = re.compile(r"\w")
# Commas and newlines only: "two words" on one line is a mistake to report, not two tags to guess.
_SEPARATORS = re.compile(r"[,\r\n]")


def hashtag_key(tag: str) -> str:
    """The form two hashtags share when LinkedIn treats them as the same tag (case and Unicode
    composition ignored)."""
    return unicodedata.normalize("NFC", tag).casefold()


def normalise_hashtag(raw: str) -> str:
    """The hashtag with a leading '#', case kept; Invalid naming the tag when it cannot be one."""
    # NFC so that an 'é' typed as 'e' plus a combining accent counts as the letter it shows.
    tag = unicodedata.normalize("NFC", raw.strip())
    word = tag[1:] if tag.startswith("#") else tag
    if not word:
        raise Invalid(N_("'%(tag)s' is not a valid hashtag: it is empty."), tag=tag)
    if any(character.isspace() for character in word):
        raise Invalid(N_("'%(tag)s' is not a valid hashtag: spaces are not allowed."), tag=tag)
    if "#" in word:
        raise Invalid(N_("'%(tag)s' is not a valid hashtag: '#' may only come first."), tag=tag)
    for character in word:
        if not _TAG_CHARACTER.fullmatch(character):
            raise Invalid(
                N_(
                    "'%(tag)s' is not a valid hashtag: '%(character)s' is not allowed; "
                    "use letters, digits and underscores only."
                ),
                tag=tag,
                character=character,
            )
    normalised = "#" + word
    if len(normalised) > MAX_HASHTAG_LENGTH:
        raise Invalid(
            N_("'%(tag)s' is not a valid hashtag: it is longer than %(limit)s characters."),
            tag=tag,
            limit=MAX_HASHTAG_LENGTH,
        )
    return normalised


def normalise_hashtags(raw: Iterable[str] | str) -> list[str]:
    """Normalised hashtags in the order given, blanks skipped, the first spelling of each kept.

    A single string is split on commas and newlines, the way people paste a list into a form field.
    """
    items = _SEPARATORS.split(raw) if isinstance(raw, str) else raw
    seen: set[str] = set()
    hashtags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            # JSON clients can send anything in the list; only text can be a hashtag.
            raise Invalid(N_("Hashtags must be a list or a comma-separated text."))
        if not item.strip():
            continue
        tag = normalise_hashtag(item)
        key = hashtag_key(tag)
        if key not in seen:
            seen.add(key)
            hashtags.append(tag)
    return hashtags
