"""Reading fields of submitted records: refuse wrong types instead of storing their text.

Every text field follows one set of rules (text_field): control characters are refused, naming
the field (a newline or tab only in long text such as captions and descriptions), and the text
is normalised by stripping whitespace and invisible format characters (zero-width spaces, joiners,
word joiners, byte order marks) from both ends, so text of only such characters counts as empty.
Format characters inside the text stay: emoji sequences need the zero-width joiner.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from toolkit.errors import N_, Invalid

# Allowed inside long (multi-line) text; everything else of category Cc is refused.
MULTILINE_CONTROLS = frozenset("\n\t")
# Fields that hold long text (line breaks allowed) wherever they occur: a caption variant's text,
# descriptions. Every other text field (titles, names, tags, tones, ids) is a single line.
LONG_TEXT = frozenset({"text", "description"})


def _invisible(char: str) -> bool:
    """Whitespace or a format character (category Cf: U+200B, U+200C, U+200D, U+2060, U+FEFF...)."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def strip_invisible(text: str) -> str:
    """The text without whitespace and format characters at either end."""
    start, end = 0, len(text)
    while start < end and _invisible(text[start]):
        start += 1
    while end > start and _invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def has_control(text: str, *, multiline: bool = False) -> bool:
    allowed = MULTILINE_CONTROLS if multiline else frozenset()
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in text)


def without_control(text: str) -> str:
    """The text with every control character removed (for text that is not typed, such as a file
    name that becomes a title: cleaned rather than refused)."""
    return "".join(c for c in text if unicodedata.category(c) != "Cc")


def clean_text(value: str, label: str, *, multiline: bool = False) -> str:
    """A text under the shared rules: normalised (CRLF to LF in long text, whitespace and invisible
    characters stripped at both ends), then Invalid naming the field when a control character is
    left (a line break or tab only in long text)."""
    value = strip_invisible(value.replace("\r\n", "\n") if multiline else value)
    if has_control(value, multiline=multiline):
        if multiline:
            raise Invalid(
                N_("'%(field)s' contains a control character: only line breaks and tabs are allowed."),
                field=label,
            )
        raise Invalid(N_("'%(field)s' must be a single line without control characters."), field=label)
    return value


def text_field(
    values: Mapping[str, Any], name: str, *, multiline: bool | None = None, label: str | None = None
) -> str:
    """A text field that may be absent or null; a number, list or object is refused, not stringified.

    Normalised and checked by clean_text, as long text when multiline (default: when its name is
    in LONG_TEXT); errors name the field as label (default: its name)."""
    if multiline is None:
        multiline = name in LONG_TEXT
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(N_("'%(field)s' must be text."), field=label or name)
    return clean_text(value, label or name, multiline=multiline)
