"""The social media policy, written in Markdown by marketing, as safe HTML and as a plain-text summary."""

from __future__ import annotations

import re
from collections.abc import Iterable

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

# html=False: raw HTML in the source is shown as text, never passed through. Linkify stays off because
# it needs linkify-it-py, which the portal does not depend on; <https://...> autolinks still work.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
# Only for the summary: with html=True raw HTML becomes tokens of its own that can be left out,
# instead of text that would show up as "<b>" in a plain-text summary. Never used to render.
_summary_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

# Sanitising after rendering is the second lock: whatever the Markdown renderer lets through, only
# these tags and attributes reach the page. No img: an image could track readers or be off-brand.
_cleaner = nh3.Cleaner(
    tags={
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "a",
        "strong",
        "em",
        "code",
        "pre",
        "blockquote",
        "hr",
        "br",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "del",
    },
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    link_rel="noopener noreferrer",
    url_schemes={"http", "https", "mailto"},
)

_WHITESPACE = re.compile(r"\s+")
_ELLIPSIS = "\u2026"


def render_markdown(source: str) -> str:
    """The Markdown as sanitised HTML: no scripts, event handlers, styles, images or non-web links."""
    tokens = _markdown.parse(source)
    for token in _walk(tokens):
        # markdown-it writes ~~text~~ as <s>; <del> says the text was struck out on purpose.
        if token.tag == "s":
            token.tag = "del"
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    return _cleaner.clean(html)


def summarise_markdown(source: str, max_chars: int = 400) -> str:
    """Plain text of the opening paragraphs, at most max_chars long, cut at a word with '…' if needed.

    Headings, code blocks and raw HTML are left out; paragraphs are separated by a blank line.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    paragraphs: list[str] = []
    tokens = _summary_markdown.parse(source)
    for index, token in enumerate(tokens):
        if token.type != "inline" or index == 0 or tokens[index - 1].type != "paragraph_open":
            continue
        text = _WHITESPACE.sub(" ", _plain_text(token.children or [])).strip()
        if text:
            paragraphs.append(text)

    summary = ""
    for paragraph in paragraphs:
        candidate = f"{summary}\n\n{paragraph}" if summary else paragraph
        if len(candidate) <= max_chars:
            summary = candidate
            continue
        if not summary:
            summary = _truncate(paragraph, max_chars)
        # A later paragraph that does not fit is left out whole rather than cut off mid-thought.
        break
    return summary


def _walk(tokens: Iterable[Token]) -> Iterable[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def _plain_text(children: list[Token]) -> str:
    parts: list[str] = []
    # Only direct children: an image's alt text sits in the image token's own children and is left
    # out, and raw HTML arrives as html_inline tokens, which are skipped like any other markup.
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _truncate(text: str, max_chars: int) -> str:
    """The text cut to max_chars including the ellipsis, at a space when there is one."""
    room = max_chars - len(_ELLIPSIS)
    cut = text.rfind(" ", 0, room + 1)
    head = text[: cut if cut > 0 else room].rstrip()
    return head + _ELLIPSIS
