from __future__ import annotations

import pytest

from toolkit.errors import Invalid
from toolkit.hashtags import MAX_HASHTAG_LENGTH, hashtag_key, normalise_hashtag, normalise_hashtags


def test_normalise_hashtag_adds_hash() -> None:
    assert normalise_hashtag("Sustainability") == "#Sustainability"


def test_normalise_hashtag_keeps_existing_hash_and_case() -> None:
    assert normalise_hashtag("  #OpenSource \n") == "#OpenSource"


def test_normalise_hashtag_allows_unicode_letters_digits_underscore() -> None:
    assert normalise_hashtag("Duurzaamheid") == "#Duurzaamheid"
    assert normalise_hashtag("#Café") == "#Café"
    assert normalise_hashtag("Zürich_2030") == "#Zürich_2030"


def test_normalise_hashtag_composes_decomposed_accents() -> None:
    assert normalise_hashtag("Cafe\u0301") == "#Caf\u00e9"


def test_normalise_hashtag_space_refused_with_tag_named() -> None:
    with pytest.raises(Invalid) as caught:
        normalise_hashtag("two words")
    assert caught.value.params["tag"] == "two words"
    assert caught.value.message == "'%(tag)s' is not a valid hashtag: spaces are not allowed."
    assert str(caught.value) == "'two words' is not a valid hashtag: spaces are not allowed."
    assert caught.value.status == 422


def test_normalise_hashtag_tab_refused_as_space() -> None:
    with pytest.raises(Invalid, match="spaces are not allowed"):
        normalise_hashtag("#two\twords")


@pytest.mark.parametrize("raw", ["#co-op", "#wow!", "#a.b", "#rock&roll", "#😀", "#50%"])
def test_normalise_hashtag_punctuation_refused(raw: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalise_hashtag(raw)
    assert caught.value.params["tag"] == raw
    assert raw in str(caught.value)


def test_normalise_hashtag_punctuation_names_the_character() -> None:
    with pytest.raises(Invalid) as caught:
        normalise_hashtag("#co-op")
    assert caught.value.params["character"] == "-"


def test_normalise_hashtag_hash_inside_refused() -> None:
    with pytest.raises(Invalid, match="'#a#b' is not a valid hashtag"):
        normalise_hashtag("#a#b")


def test_normalise_hashtag_double_hash_refused() -> None:
    with pytest.raises(Invalid, match="'##tag'"):
        normalise_hashtag("##tag")


@pytest.mark.parametrize("raw", ["", "   ", "#", " # "])
def test_normalise_hashtag_empty_refused(raw: str) -> None:
    with pytest.raises(Invalid, match="it is empty"):
        normalise_hashtag(raw)


def test_normalise_hashtag_at_length_limit_accepted() -> None:
    word = "a" * (MAX_HASHTAG_LENGTH - 1)
    assert normalise_hashtag(word) == "#" + word


def test_normalise_hashtag_over_length_limit_refused() -> None:
    with pytest.raises(Invalid, match="longer than 100 characters"):
        normalise_hashtag("a" * MAX_HASHTAG_LENGTH)


def test_hashtag_key_ignores_case_and_composition() -> None:
    assert hashtag_key("#CAFÉ") == hashtag_key("#cafe\u0301")


def test_normalise_hashtags_list_keeps_order() -> None:
    assert normalise_hashtags(["b", "#a", "C"]) == ["#b", "#a", "#C"]


def test_normalise_hashtags_duplicates_removed_keeping_first_spelling() -> None:
    assert normalise_hashtags(["#OpenSource", "opensource", "#OPENSOURCE", "#Other"]) == [
        "#OpenSource",
        "#Other",
    ]


def test_normalise_hashtags_string_split_on_commas_and_newlines() -> None:
    assert normalise_hashtags("#one, two\r\nthree\n#Four,,\n") == ["#one", "#two", "#three", "#Four"]


def test_normalise_hashtags_string_not_split_on_spaces() -> None:
    with pytest.raises(Invalid) as caught:
        normalise_hashtags("#one, two words")
    assert caught.value.params["tag"] == "two words"


def test_normalise_hashtags_blanks_skipped() -> None:
    assert normalise_hashtags(["", "  ", "#a", "\n"]) == ["#a"]
    assert normalise_hashtags("") == []


def test_normalise_hashtags_invalid_item_in_list_refused() -> None:
    with pytest.raises(Invalid, match="'#ok, #no'"):
        normalise_hashtags(["#fine", "#ok, #no"])


def test_normalise_hashtags_accepts_generator() -> None:
    assert normalise_hashtags(tag for tag in ("x", "X", "y")) == ["#x", "#y"]
