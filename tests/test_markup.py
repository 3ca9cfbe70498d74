from __future__ import annotations

from html.parser import HTMLParser

import pytest

from toolkit.markup import render_markdown, summarise_markdown


class Elements(HTMLParser):
    """Every element in an HTML fragment with its attributes, so tests look at markup, not at text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def tags(self) -> list[str]:
        return [tag for tag, _ in self.elements]

    def attributes(self) -> set[str]:
        return {name for _, attrs in self.elements for name in attrs}

    def with_tag(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def test_render_markdown_script_tag_not_an_element() -> None:
    html = render_markdown("Before\n\n<script>alert(1)</script>\n\nAfter <script>alert(2)</script>")
    assert "<script" not in html
    assert "script" not in Elements(html).tags()
    # Shown as the text that was typed, like any other raw HTML.
    assert "&lt;script&gt;" in html


def test_render_markdown_javascript_link_has_no_href() -> None:
    html = render_markdown("[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) <javascript:alert(1)>")
    hrefs = [attrs.get("href") or "" for attrs in Elements(html).with_tag("a")]
    assert not any("javascript" in href.lower() for href in hrefs)
    assert 'href="javascript' not in html.lower()


def test_render_markdown_data_and_other_schemes_have_no_href() -> None:
    html = render_markdown(
        "[d](data:text/html,hi) [v](vbscript:x) [f](file:///etc/passwd) [s](ssh://host) [t](tel:1)"
    )
    links = Elements(html).with_tag("a")
    assert links, "ssh: and tel: links are rendered by Markdown and must lose their href in nh3"
    assert all("href" not in attrs for attrs in links)


def test_render_markdown_raw_img_shows_no_element_or_handler() -> None:
    html = render_markdown("<img src=x onerror=alert(1)>\n\nText <img src=x onerror=alert(1)> inline")
    parsed = Elements(html)
    assert "img" not in parsed.tags()
    assert not any(name.startswith("on") for name in parsed.attributes())


def test_render_markdown_markdown_image_dropped() -> None:
    html = render_markdown("![logo](https://example.com/logo.png)")
    assert "img" not in Elements(html).tags()


def test_render_markdown_no_style_or_class_attributes() -> None:
    html = render_markdown("| a | b |\n|:-|-:|\n| 1 | 2 |\n\n```python\ncode\n```")
    assert Elements(html).attributes() == set()


def test_render_markdown_links_get_noopener() -> None:
    html = render_markdown(
        '[site](https://example.com "Title") and <https://example.org> [m](mailto:a@b.nl) [r](/policy)'
    )
    links = Elements(html).with_tag("a")
    assert [attrs["href"] for attrs in links] == [
        "https://example.com",
        "https://example.org",
        "mailto:a@b.nl",
        "/policy",
    ]
    for attrs in links:
        assert "noopener" in (attrs["rel"] or "").split()
    assert links[0]["title"] == "Title"


def test_render_markdown_tables_render() -> None:
    html = render_markdown("| Do | Don't |\n|---|---|\n| Share | Leak |")
    assert Elements(html).tags() == ["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"]
    assert "<td>Share</td>" in html


@pytest.mark.parametrize("level", range(1, 7))
def test_render_markdown_headings_render(level: int) -> None:
    assert render_markdown("#" * level + " Policy") == f"<h{level}>Policy</h{level}>\n"


def test_render_markdown_common_blocks_render() -> None:
    source = (
        "**bold** *em* `code` ~~gone~~\n\n> quote\n\n- one\n- two\n\n3. three\n4. four\n\n---\n\n"
        "line  \nbreak\n\n```\npre\n```"
    )
    parsed = Elements(render_markdown(source))
    assert parsed.tags() == [
        "p",
        "strong",
        "em",
        "code",
        "del",
        "blockquote",
        "p",
        "ul",
        "li",
        "li",
        "ol",
        "li",
        "li",
        "hr",
        "p",
        "br",
        "pre",
        "code",
    ]
    assert parsed.with_tag("ol") == [{"start": "3"}]


def test_render_markdown_empty_source_is_empty() -> None:
    assert render_markdown("") == ""


def test_render_markdown_style_attribute_in_raw_html_not_applied() -> None:
    html = render_markdown('<p style="color:red" onclick="x()">hi</p>')
    assert Elements(html).attributes() == set()


def test_summarise_markdown_plain_text_of_first_paragraphs() -> None:
    source = (
        "# Social media policy\n\n"
        "Be **kind**, be *honest* and read [the guide](https://example.com).\n"
        "Use `#hashtags` sparingly.\n\n"
        "- Never share client names.\n\n"
        "```\nignored code\n```\n"
    )
    summary = summarise_markdown(source)
    assert summary == (
        "Be kind, be honest and read the guide. Use #hashtags sparingly.\n\nNever share client names."
    )


def test_summarise_markdown_has_no_html() -> None:
    summary = summarise_markdown("Hello <b>there</b> & <script>x</script> ![img](a.png)\n\n<div>block</div>")
    assert "<" not in summary and ">" not in summary
    assert summary.startswith("Hello there &")


def test_summarise_markdown_entities_decoded() -> None:
    assert summarise_markdown("Fish &amp; chips &copy;") == "Fish & chips ©"


def test_summarise_markdown_long_paragraph_cut_at_word() -> None:
    summary = summarise_markdown("word " * 200, max_chars=42)
    assert len(summary) <= 42
    assert summary.endswith("word…")
    assert summary == "word " * 7 + "word…"


def test_summarise_markdown_later_paragraph_left_out_when_too_long() -> None:
    summary = summarise_markdown("First paragraph.\n\n" + "Second " * 100, max_chars=100)
    assert summary == "First paragraph."


def test_summarise_markdown_empty_without_paragraphs() -> None:
    assert summarise_markdown("# Only a heading") == ""
    assert summarise_markdown("") == ""


def test_summarise_markdown_invalid_max_chars_refused() -> None:
    with pytest.raises(ValueError):
        summarise_markdown("Text", max_chars=0)
