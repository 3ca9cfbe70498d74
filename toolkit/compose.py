"""The copy composer: the text an employee's preview shows, byte for byte, and the checks run on it.

Lengths are Python string lengths, i.e. Unicode code points: what people count when they read the
text, so an emoji is one character. LinkedIn's own composer may count some emoji as two; the limits
below are far enough from real posts that the difference only matters for emoji-heavy text at the
very edge of the limit.
"""

from __future__ import annotations

import random
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from toolkit.errors import N_, NotFound
from toolkit.hashtags import hashtag_key

PLACEHOLDERS = ("first_name", "name", "job_title", "team")
LINKEDIN_LIMIT = 3000
DEFAULT_FOLD_AT = 210
MAX_HASHTAGS = 5
"""More hashtags than this reads as spam and LinkedIn shows the post to fewer people."""

# LinkedIn shows at most this many lines before '...see more'.
_FOLD_LINES = 3
# How far back from a character-count fold to look for a space, so the fold does not split a word.
_WORD_BOUNDARY_WINDOW = 20

# Only the four known names, and only in single braces: "{{name}}" is how someone writes the literal
# text, and nothing is ever handed to str.format or string.Template, so "{0}", "{name.__class__}"
# and "%s" stay exactly as typed.
_PLACEHOLDER = re.compile(r"(?<!\{)\{(" + "|".join(map(re.escape, PLACEHOLDERS)) + r")\}(?!\})")
# A '#' that starts a word; "C#" or "issue#5" are not hashtags.
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
# URLs are removed before counting hashtags, so a fragment such as example.com/#jobs is not one.
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Profile:
    """What an employee told the portal about themselves, used to fill the placeholders."""

    first_name: str = ""
    name: str = ""
    job_title: str = ""
    team: str = ""


@dataclass(frozen=True)
class LintWarning:
    """Something about a post worth fixing before sharing it; message is an untranslated msgid."""

    code: str
    message: str
    params: dict[str, object]


def fill_placeholders(text: str, profile: Profile) -> str:
    """The text with {first_name}, {name}, {job_title} and {team} replaced by the profile's values.

    A placeholder whose value is empty stays in the text, so that lint points it out instead of the
    post silently reading "I work in  as a ."
    """

    def replace(match: re.Match[str]) -> str:
        value: str = getattr(profile, match.group(1)).strip()
        return value or match.group(0)

    # re.sub does not rescan what it inserted, so a value containing "{team}" stays literal.
    return _PLACEHOLDER.sub(replace, text)


def compose_text(body: str, hashtags: Sequence[str], link: str | None = None) -> str:
    """The post as shared: the body, then the link unless the body has it, then the hashtags on one line,
    separated by blank lines, with '\\n' line endings."""
    if isinstance(hashtags, str):
        # A str is a Sequence[str] too, and joining its characters would produce "# a # b".
        raise TypeError("hashtags must be a sequence of hashtags, not a single string")
    text = _unix_newlines(body).rstrip()
    parts = [text]
    link = (link or "").strip()
    if link and link not in text:
        parts.append(link)
    tags = " ".join(tag.strip() for tag in hashtags if tag.strip())
    if tags:
        parts.append(tags)
    return "\n\n".join(part for part in parts if part)


def lint(
    text: str, *, fold_at: int = DEFAULT_FOLD_AT, limit: int = LINKEDIN_LIMIT, link: str | None = None
) -> list[LintWarning]:
    """Warnings about a composed post, in a fixed order, empty when there is nothing to fix."""
    warnings: list[LintWarning] = []

    length = len(text)
    if length > limit:
        warnings.append(
            LintWarning(
                "over_limit",
                N_("The text is %(length)s characters; LinkedIn allows %(limit)s."),
                {"length": length, "limit": limit},
            )
        )

    hook = _first_line_span(text)
    if hook is not None and hook[1] > fold_index(text, fold_at):
        warnings.append(
            LintWarning(
                "hook_after_fold",
                N_(
                    "The first line does not fit before “…see more” (%(fold_at)s characters); "
                    "start with a shorter hook."
                ),
                {"hook_length": hook[1] - hook[0], "fold_at": fold_at},
            )
        )

    hashtags = _HASHTAG.findall(_URL.sub(" ", unicodedata.normalize("NFC", text)))
    if len(hashtags) > MAX_HASHTAGS:
        warnings.append(
            LintWarning(
                "too_many_hashtags",
                N_("The text has %(count)s hashtags; use at most %(max)s."),
                {"count": len(hashtags), "max": MAX_HASHTAGS},
            )
        )

    for name in dict.fromkeys(_PLACEHOLDER.findall(text)):
        warnings.append(
            LintWarning(
                "unfilled_placeholder",
                N_("%(placeholder)s has not been filled in; add it to your profile or edit the text."),
                {"placeholder": "{" + name + "}"},
            )
        )

    link = (link or "").strip()
    if link and link not in text:
        warnings.append(
            LintWarning("missing_link", N_("The link %(link)s is missing from the text."), {"link": link})
        )

    first_spelling: dict[str, str] = {}
    reported: set[str] = set()
    for tag in hashtags:
        key = hashtag_key(tag)
        if key not in first_spelling:
            first_spelling[key] = tag
        elif key not in reported:
            reported.add(key)
            warnings.append(
                LintWarning(
                    "duplicate_hashtag",
                    N_("The hashtag %(hashtag)s appears more than once."),
                    {"hashtag": first_spelling[key]},
                )
            )

    return warnings


def fold_index(text: str, fold_at: int = DEFAULT_FOLD_AT) -> int:
    """Where LinkedIn's '...see more' cuts the text: text[:index] is what the feed shows.

    The feed shows at most fold_at characters and at most three lines; a cut by character count moves
    back to a space when one is within the last 20 characters. len(text) when nothing is hidden.
    """
    if fold_at < 1:
        raise ValueError("fold_at must be at least 1")
    cut = min(fold_at, len(text))
    by_lines = False
    position = -1
    for _ in range(_FOLD_LINES):
        position = text.find("\n", position + 1)
        if position == -1:
            break
    else:
        if position < cut:
            cut, by_lines = position, True
    if not text[cut:].strip():
        # Only whitespace would be behind the fold, and LinkedIn does not fold for that.
        return len(text)
    if not by_lines and not text[cut - 1].isspace() and not text[cut].isspace():
        window_start = max(0, cut - _WORD_BOUNDARY_WINDOW)
        for index in range(cut - 1, window_start - 1, -1):
            if text[index].isspace():
                return index
    return cut


def linkedin_share_url(text: str) -> str:
    """The LinkedIn address that opens the share box with the text filled in."""
    return "https://www.linkedin.com/feed/?shareActive=true&text=" + urllib.parse.quote(text, safe="")


def pick_variant(
    usage_counts: Mapping[str, int], variant_ids: Sequence[str], rng: random.Random | None = None
) -> str:
    """'Surprise me': a variant the fewest colleagues have shared, chosen at random among equals."""
    candidates = list(dict.fromkeys(variant_ids))
    if not candidates:
        raise NotFound(N_("This post has no variants to choose from."))
    fewest = min(usage_counts.get(variant, 0) for variant in candidates)
    least_used = [variant for variant in candidates if usage_counts.get(variant, 0) == fewest]
    chooser = rng if rng is not None else random.Random()
    return chooser.choice(least_used)


def _unix_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line_span(text: str) -> tuple[int, int] | None:
    """Start and end offsets of the first line with something on it, without its line break."""
    start = 0
    for line in text.split("\n"):
        if line.strip():
            return start, start + len(line.rstrip())
        start += len(line) + 1
    return None
