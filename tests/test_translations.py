"""The Dutch catalog covers every message the code and templates can show, with the same placeholders.

Messages are extracted the way `make messages` does (babel.cfg, N_ and ngettext included), so a
string someone adds without a translation fails here: run `make messages` and translate it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from toolkit import asset_fields, posts
from toolkit.accounts import Role
from toolkit.i18n import LOCALE_DIR, translations
from toolkit.vocabulary import ROLE_NAMES, STATUS_WORDS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("toolkit", "templates")
CATALOG = LOCALE_DIR / "nl" / "LC_MESSAGES" / "messages.po"
# The same keywords as the Makefile's `pybabel extract -k N_ -k ngettext:1,2`.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "ngettext": (1, 2)}
# Every %-sequence Python would interpret: named or positional conversions and %%. A stray "%" in a
# translation shows up as a sequence the msgid lacks (templates always %-format their messages).
PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?.?", re.S)

MsgId = str | tuple[str, ...]


def _in_sources(path: str) -> bool:
    parts = Path(path).relative_to(ROOT).parts
    return parts[0] in SOURCES and not any(part.startswith((".", "_")) for part in parts)


def extracted() -> dict[MsgId, list[str]]:
    """Every msgid in toolkit/ and templates/, with where it is used."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")  # type: ignore[no-untyped-call]
    found: dict[MsgId, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=_in_sources
    ):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def catalog() -> Catalog:
    return read_po(io.BytesIO(CATALOG.read_bytes()), locale="nl")


def _forms(message: Message) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs to compare: one per plural form, matched to the singular or plural."""
    if isinstance(message.id, str):
        return [(message.id, str(message.string))]
    singular, plural = message.id[0], message.id[1]
    forms = message.string if isinstance(message.string, (tuple, list)) else [str(message.string)]
    return [(singular if n == 0 else plural, form) for n, form in enumerate(forms)]


def _percents(text: str) -> Counter[str]:
    return Counter(PERCENT.findall(text))


def test_extraction_finds_templates_and_domain_messages() -> None:
    found = extracted()
    assert "Password" in found and any(p.startswith("templates/") for p in found["Password"])
    assert any(place.startswith("toolkit/errors.py") for place in found["Not found."])  # N_ in Python
    assert ("%(num)s use", "%(num)s uses") in found  # ngettext in a template
    assert len(found) > 500


def test_catalog_translates_every_extracted_message() -> None:
    nl = catalog()
    missing = []
    for msgid, places in extracted().items():
        message = nl.get(msgid)
        strings = () if message is None else _forms(message)
        if message is None or not all(string.strip() for _, string in strings):
            missing.append(f"{msgid!r} ({places[0]})")
    assert not missing, "untranslated (run `make messages`, then translate):\n" + "\n".join(missing)


def test_catalog_placeholders_match_their_msgids() -> None:
    wrong = []
    for message in catalog():
        if not message.id:
            continue
        for msgid, msgstr in _forms(message):
            if _percents(msgid) != _percents(msgstr):
                wrong.append(f"{msgid!r} -> {msgstr!r}")
                continue
            # Formatting must work the way callers do it: named parameters, or none at all.
            names = {name: 1 for name in re.findall(r"%\(([^)]*)\)", msgid)}
            try:
                msgid % names
            except (TypeError, ValueError):
                continue  # never %-formatted by its caller
            try:
                msgstr % names
            except (KeyError, TypeError, ValueError) as exc:
                wrong.append(f"{msgstr!r}: {exc!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_catalog_has_no_fuzzy_obsolete_or_unused_entries() -> None:
    nl = catalog()
    assert not nl.fuzzy, "the header is marked fuzzy"
    assert not [m.id for m in nl if m.id and m.fuzzy], "fuzzy entries are not used at run time"
    assert not nl.obsolete, "obsolete (#~) entries"
    used = {msgid if isinstance(msgid, str) else msgid[0] for msgid in extracted()}
    unused = [m.id for m in nl if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in used]
    assert not unused, "no longer in the code (run `make messages`):\n" + "\n".join(map(repr, unused))


def test_catalog_is_html_free_and_keeps_the_header() -> None:
    nl = catalog()
    assert nl.num_plurals == 2 and nl.locale_identifier == "nl"
    assert CATALOG.read_text(encoding="utf-8").startswith("# Dutch translations for Ambassador Toolkit.\n")
    tagged = [s for m in nl if m.id for _, s in _forms(m) if re.search(r"<[a-zA-Z/!]|&[a-z#]+;", s)]
    assert not tagged, "translations are plain text (templates mark them safe)"


def test_words_shown_through_a_variable_are_in_the_vocabulary() -> None:
    assert {role.name for role in Role} == set(ROLE_NAMES)
    assert set(posts.STATUSES) | set(asset_fields.STATUSES) <= set(STATUS_WORDS)


@pytest.mark.parametrize(
    ("english", "dutch"),
    [
        ("Password", "Wachtwoord"),
        ("Example posts", "Voorbeeldposts"),
        ("Crisis mode", "Crisismodus"),
        ("Share link", "Deellink"),
        ("draft", "concept"),
        ("approved", "goedgekeurd"),
        ("archived", "gearchiveerd"),
        ("employee", "medewerker"),
        ("admin", "beheerder"),
    ],
)
def test_runtime_catalog_uses_the_agreed_terms(english: str, dutch: str) -> None:
    assert translations("nl").gettext(english) == dutch


def test_runtime_catalog_has_dutch_plurals() -> None:
    nl = translations("nl")
    assert nl.ngettext("in %(num)s day", "in %(num)s days", 1) % {"num": 1} == "over 1 dag"
    assert nl.ngettext("in %(num)s day", "in %(num)s days", 3) % {"num": 3} == "over 3 dagen"
