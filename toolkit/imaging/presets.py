"""Share-image sizes per social network, in the order people pick them."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import N_, Invalid


@dataclass(frozen=True)
class Preset:
    """An output size for one network; label is an English msgid, translated where it is shown."""

    name: str
    width: int
    height: int
    network: str
    label: str


# Labels are written out (not built from the numbers) so message extraction finds them.
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("linkedin-landscape", 1200, 627, "LinkedIn", N_("LinkedIn landscape (1200×627)")),
        Preset("linkedin-square", 1200, 1200, "LinkedIn", N_("LinkedIn square (1200×1200)")),
        Preset("linkedin-portrait", 1080, 1350, "LinkedIn", N_("LinkedIn portrait (1080×1350)")),
        Preset("linkedin-banner", 1584, 396, "LinkedIn", N_("LinkedIn banner (1584×396)")),
        Preset("instagram-square", 1080, 1080, "Instagram", N_("Instagram square (1080×1080)")),
        Preset("instagram-portrait", 1080, 1350, "Instagram", N_("Instagram portrait (1080×1350)")),
        Preset("instagram-story", 1080, 1920, "Instagram", N_("Instagram story (1080×1920)")),
        Preset("x-landscape", 1600, 900, "X", N_("X landscape (1600×900)")),
    )
}

DEFAULT_PRESET = "linkedin-landscape"


def get_preset(name: str) -> Preset:
    """The preset called name; Invalid, listing the valid names, when there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        raise Invalid(
            N_("Unknown image size %(name)s. Choose one of: %(names)s."),
            name=name,
            names=", ".join(PRESETS),
        ) from None
