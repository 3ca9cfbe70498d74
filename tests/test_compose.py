from __future__ import annotations

import random
import urllib.parse

import pytest

from toolkit.compose import (
    DEFAULT_FOLD_AT,
    LINKEDIN_LIMIT,
    PLACEHOLDERS,
    LintWarning,
    Profile,
    compose_text,
    fill_placeholders,
    fold_index,
    linkedin_share_url,
    lint,
    pick_variant,
)
from toolkit.errors import NotFound

JAN = Profile(first_name="Jan", name="Jan de Vries", job_title="Data Engineer", team="Platform")


def codes(warnings: list[LintWarning]) -> list[str]:
    return [warning.code for warning in warnings]


def test_placeholders_are_the_four_known_names() -> None:
    assert PLACEHOLDERS == ("first_name", "name", "job_title", "team")


def test_fill_placeholders_all_filled() -> None:
    text = "I'm {first_name} ({name}), {job_title} in {team}. {first_name} again."
    assert fill_placeholders(text, JAN) == ("I'm Jan (Jan de Vries), Data Engineer in Platform. Jan again.")


@pytest.mark.parametrize(
    "text",
    [
        "{foo}",
        "{0}",
        "{}",
        "{name.__class__}",
        "{name!r}",
        "{name:>10}",
        "%s and %(name)s",
        "$name and $first_name",
        "{{name}}",
        "{{{name}}}",
        "{Name}",
        "{ name }",
        "<script>alert(1)</script>",
    ],
)
def test_fill_placeholders_unknown_or_format_like_stays_literal(text: str) -> None:
    assert fill_placeholders(text, JAN) == text


def test_fill_placeholders_html_in_value_inserted_as_typed() -> None:
    # The composer produces text, not HTML; escaping is the template's job.
    profile = Profile(first_name="<script>alert(1)</script>")
    assert fill_placeholders("Hi {first_name}", profile) == "Hi <script>alert(1)</script>"


def test_fill_placeholders_value_with_placeholder_not_expanded_again() -> None:
    profile = Profile(first_name="{team}", team="Platform")
    assert fill_placeholders("{first_name} / {team}", profile) == "{team} / Platform"


def test_fill_placeholders_empty_value_leaves_placeholder() -> None:
    profile = Profile(first_name="Jan", team="  ")
    assert fill_placeholders("{first_name} from {team}", profile) == "Jan from {team}"


def test_lint_unfilled_placeholder_named() -> None:
    text = fill_placeholders("{first_name} from {team}, {job_title}, {team}", Profile(first_name="Jan"))
    warnings = [warning for warning in lint(text) if warning.code == "unfilled_placeholder"]
    assert [warning.params["placeholder"] for warning in warnings] == ["{team}", "{job_title}"]
    assert warnings[0].message % warnings[0].params == (
        "{team} has not been filled in; add it to your profile or edit the text."
    )


def test_lint_unfilled_placeholder_not_triggered_by_literal_braces() -> None:
    assert lint("Filled in: Jan. Literal: {{name}} {foo} {0}") == []


def test_compose_text_layout_with_link_and_hashtags() -> None:
    text = compose_text("Line one\r\nLine two\r\n\r\n  \n", ["#a", "#B"], "https://example.com/x")
    assert text == "Line one\nLine two\n\nhttps://example.com/x\n\n#a #B"


def test_compose_text_link_already_in_body_not_repeated() -> None:
    body = "Read https://example.com/x today"
    assert compose_text(body, [], "https://example.com/x") == body


def test_compose_text_without_link_or_hashtags_is_body() -> None:
    assert compose_text("Just text.\n\n", []) == "Just text."
    assert compose_text("Just text.", [], None) == "Just text."
    assert compose_text("Just text.", [], "") == "Just text."


def test_compose_text_hashtags_only_separated_by_blank_line() -> None:
    assert compose_text("Body", ["#one"]) == "Body\n\n#one"


def test_compose_text_old_mac_line_endings_normalised() -> None:
    assert compose_text("a\rb", []) == "a\nb"


def test_compose_text_leading_whitespace_kept() -> None:
    assert compose_text("  indented", []) == "  indented"


def test_compose_text_empty_body_has_no_leading_blank_lines() -> None:
    assert compose_text("  \n", ["#a"], "https://x.example") == "https://x.example\n\n#a"


def test_compose_text_string_hashtags_refused() -> None:
    with pytest.raises(TypeError):
        compose_text("Body", "#a #b")


def test_lint_clean_text_has_no_warnings() -> None:
    text = compose_text("Short hook.\nMore text.", ["#a", "#b"], "https://example.com")
    assert lint(text, link="https://example.com") == []


def test_lint_over_limit_triggered() -> None:
    text = "Hook\n" + "x" * LINKEDIN_LIMIT
    [warning] = [warning for warning in lint(text) if warning.code == "over_limit"]
    assert warning.params == {"length": LINKEDIN_LIMIT + 5, "limit": LINKEDIN_LIMIT}
    assert warning.message % warning.params == "The text is 3005 characters; LinkedIn allows 3000."


def test_lint_over_limit_not_triggered_at_limit() -> None:
    text = "Hook\n" + "x" * (LINKEDIN_LIMIT - 5)
    assert "over_limit" not in codes(lint(text))


def test_lint_over_limit_counts_code_points() -> None:
    assert codes(lint("😀" * 10, limit=10)) == []
    assert codes(lint("😀" * 11, limit=10)) == ["over_limit"]


def test_lint_hook_after_fold_triggered() -> None:
    text = "word " * 60 + "\nSecond line."
    [warning] = lint(text)
    assert warning.code == "hook_after_fold"
    assert warning.params == {"hook_length": 299, "fold_at": DEFAULT_FOLD_AT}


def test_lint_hook_after_fold_not_triggered_for_short_hook() -> None:
    text = "A short hook.\n" + "word " * 100
    assert "hook_after_fold" not in codes(lint(text))


def test_lint_hook_after_fold_not_triggered_when_nothing_folds() -> None:
    assert lint("x" * 300, fold_at=400) == []


def test_lint_hook_after_fold_hook_exactly_fold_at_fits() -> None:
    text = "h" * 20 + "\n" + "more " * 20
    assert lint(text, fold_at=20) == []
    assert codes(lint("h" * 21 + "\n" + "more " * 20, fold_at=20)) == ["hook_after_fold"]


def test_lint_hook_after_fold_triggered_by_leading_blank_lines() -> None:
    # Three line breaks before the hook: the feed folds before the reader sees any of it.
    assert codes(lint("\n\n\nHook\nBody")) == ["hook_after_fold"]


def test_lint_too_many_hashtags_triggered() -> None:
    text = "Body\n\n#a #b #c #d #e #f"
    [warning] = lint(text)
    assert warning.code == "too_many_hashtags"
    assert warning.params == {"count": 6, "max": 5}


def test_lint_too_many_hashtags_not_triggered_at_five() -> None:
    assert lint("Body #a\n\n#b #c #d #e") == []


def test_lint_too_many_hashtags_ignores_urls_and_words_with_hash() -> None:
    text = "C# and F# at https://example.com/#jobs issue#5 https://x.example/#a#b\n\n#a #b #c #d #e"
    assert lint(text) == []


def test_lint_missing_link_triggered() -> None:
    [warning] = lint("No link here.", link="https://example.com/post")
    assert warning.code == "missing_link"
    assert warning.params == {"link": "https://example.com/post"}


def test_lint_missing_link_not_triggered_when_present_or_not_given() -> None:
    assert lint("See https://example.com/post", link="https://example.com/post") == []
    assert lint("No link here.") == []
    assert lint("No link here.", link="") == []


def test_lint_duplicate_hashtag_named_case_insensitively() -> None:
    warnings = lint("Love #OpenSource.\n\n#opensource #Café #CAFÉ #OPENSOURCE")
    assert [(w.code, w.params) for w in warnings] == [
        ("duplicate_hashtag", {"hashtag": "#OpenSource"}),
        ("duplicate_hashtag", {"hashtag": "#Café"}),
    ]


def test_lint_duplicate_hashtag_not_triggered_for_distinct_tags() -> None:
    assert lint("#open #source #opensource") == []


def test_lint_warnings_in_fixed_order() -> None:
    text = "{team} " + "x" * 300 + " #a #a #b #c #d #e"
    assert codes(lint(text, link="https://example.com")) == [
        "hook_after_fold",
        "too_many_hashtags",
        "unfilled_placeholder",
        "missing_link",
        "duplicate_hashtag",
    ]


def test_fold_index_short_text_not_folded() -> None:
    assert fold_index("Short.") == len("Short.")
    assert fold_index("") == 0


def test_fold_index_exactly_fold_at_not_folded() -> None:
    text = "x" * DEFAULT_FOLD_AT
    assert fold_index(text) == DEFAULT_FOLD_AT


def test_fold_index_long_text_cut_at_word_boundary() -> None:
    text = "word " * 50  # a cut at 22 would land inside the fifth "word"
    index = fold_index(text, fold_at=22)
    assert index == 19
    assert text[:index] == "word word word word"


def test_fold_index_cut_on_space_kept() -> None:
    text = "abcd efgh ijkl"
    assert fold_index(text, fold_at=4) == 4


def test_fold_index_no_space_in_window_cuts_hard() -> None:
    text = "a " + "x" * 40
    assert fold_index(text, fold_at=30) == 30


def test_fold_index_space_just_inside_window_used() -> None:
    text = "a" * 10 + " " + "b" * 40
    assert fold_index(text, fold_at=30) == 10
    assert fold_index(text, fold_at=31) == 31


def test_fold_index_after_third_line_break() -> None:
    text = "one\ntwo\nthree\nfour"
    assert fold_index(text) == text.index("\nfour")
    assert text[: fold_index(text)] == "one\ntwo\nthree"


def test_fold_index_blank_lines_count_as_line_breaks() -> None:
    text = "Hook\n\n\nBody"
    assert fold_index(text) == 6


def test_fold_index_two_line_breaks_not_folded() -> None:
    text = "one\ntwo\nthree"
    assert fold_index(text) == len(text)


def test_fold_index_trailing_line_breaks_not_folded() -> None:
    text = "one\ntwo\nthree\n\n  \n"
    assert fold_index(text) == len(text)


def test_fold_index_character_limit_before_third_line_break() -> None:
    text = "x" * 50 + "\na\nb\nc"
    assert fold_index(text, fold_at=40) == 40


def test_fold_index_line_break_in_window_is_a_word_boundary() -> None:
    text = "hook\n" + "y" * 40
    assert fold_index(text, fold_at=10) == 4


def test_fold_index_invalid_fold_at_refused() -> None:
    with pytest.raises(ValueError):
        fold_index("text", fold_at=0)


@pytest.mark.parametrize(
    "text",
    [
        "Hello world",
        "Proud of {team} & our 🚀 launch! #OpenSource #Café\n\nhttps://example.com/a?b=1&c=2#frag",
        "100% + 50% = a+b; x=y?z\r\nnext\tline / slash \\ backslash 'quote' \"dq\"",
        "  leading and trailing spaces  ",
        "👩‍👩‍👧 family ZWJ, 🇳🇱 flag",
    ],
)
def test_linkedin_share_url_round_trips(text: str) -> None:
    url = linkedin_share_url(text)
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/feed/")
    assert parts.fragment == ""
    assert urllib.parse.parse_qs(parts.query, strict_parsing=True) == {
        "shareActive": ["true"],
        "text": [text],
    }


def test_linkedin_share_url_prefix_and_encoding() -> None:
    assert linkedin_share_url("a b&c") == "https://www.linkedin.com/feed/?shareActive=true&text=a%20b%26c"


def test_pick_variant_prefers_least_used() -> None:
    counts = {"a": 5, "b": 1, "c": 3}
    assert all(pick_variant(counts, ["a", "b", "c"], random.Random(seed)) == "b" for seed in range(20))


def test_pick_variant_unused_variant_counts_as_zero() -> None:
    assert pick_variant({"a": 1, "b": 2}, ["a", "b", "new"], random.Random(0)) == "new"


def test_pick_variant_ties_broken_by_rng() -> None:
    counts = {"a": 2, "b": 0, "c": 0, "d": 0}
    picks = {pick_variant(counts, ["a", "b", "c", "d"], random.Random(seed)) for seed in range(50)}
    assert picks == {"b", "c", "d"}


def test_pick_variant_deterministic_with_seeded_rng() -> None:
    ids = ["a", "b", "c", "d"]
    first = [pick_variant({}, ids, random.Random(42)) for _ in range(5)]
    again = [pick_variant({}, ids, random.Random(42)) for _ in range(5)]
    assert first == again
    rng_one, rng_two = random.Random(7), random.Random(7)
    assert [pick_variant({}, ids, rng_one) for _ in range(10)] == [
        pick_variant({}, ids, rng_two) for _ in range(10)
    ]


def test_pick_variant_without_rng_returns_a_least_used_variant() -> None:
    assert pick_variant({"a": 1}, ["a", "b", "c"]) in {"b", "c"}


def test_pick_variant_ignores_counts_of_other_variants() -> None:
    assert pick_variant({"gone": 0, "a": 3, "b": 4}, ["a", "b"], random.Random(1)) == "a"


def test_pick_variant_no_variants_refused() -> None:
    with pytest.raises(NotFound):
        pick_variant({"a": 1}, [])
