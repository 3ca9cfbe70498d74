from __future__ import annotations

import pytest

from toolkit.errors import Invalid
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset

REQUIRED = {
    "linkedin-landscape": (1200, 627),
    "linkedin-square": (1200, 1200),
    "linkedin-portrait": (1080, 1350),
    "linkedin-banner": (1584, 396),
    "instagram-square": (1080, 1080),
    "instagram-portrait": (1080, 1350),
    "instagram-story": (1080, 1920),
    "x-landscape": (1600, 900),
}


@pytest.mark.parametrize(("name", "size"), REQUIRED.items())
def test_get_preset_known_name_has_its_size(name: str, size: tuple[int, int]) -> None:
    preset = get_preset(name)
    assert (preset.width, preset.height) == size
    assert preset.name == name
    assert f"({size[0]}×{size[1]})" in preset.label


def test_presets_default_comes_first() -> None:
    assert next(iter(PRESETS)) == DEFAULT_PRESET
    assert isinstance(PRESETS[DEFAULT_PRESET], Preset)


def test_presets_keys_match_names() -> None:
    assert all(key == preset.name for key, preset in PRESETS.items())


def test_get_preset_unknown_name_lists_valid_names() -> None:
    with pytest.raises(Invalid) as caught:
        get_preset("myspace-profile")
    assert caught.value.status == 422
    assert caught.value.params["name"] == "myspace-profile"
    assert all(name in caught.value.text() for name in PRESETS)
