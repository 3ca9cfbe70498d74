"""The brand's look on share images: colours, the watermark logo and its placement, the headline font.

One settings record (records/settings/brand.json) holds it; its version (the record's ETag) is part
of every rendition key, so a change here makes new renditions and nothing stale is ever served.
An uploaded font is a blob named by its sha256 (blobs/brand/font-<sha>.ttf), written before the
record that points at it; earlier fonts stay as small orphans, so an instance that has not yet seen
the change can still finish a rendition with the font it knew.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from PIL import ImageFont

from toolkit.accounts import User, iso, now
from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Invalid, NotFound, PreconditionFailed, TooLarge
from toolkit.imaging.render import WATERMARK_POSITIONS, Look
from toolkit.records import Records
from toolkit.store import Store

if TYPE_CHECKING:
    from toolkit.assets import Asset, Assets
    from toolkit.portal import Portal
    from toolkit.settings import Settings

SETTINGS = "settings"
BRAND_ID = "brand"
DEFAULT_VERSION = "default"
FONT_PREFIX = "blobs/brand/"
MAX_FONT_BYTES = 5 * 1024 * 1024
COLOUR_FIELDS = ("background", "brand_colour", "text_colour")
# (low, high) as shares of the image width (margin, scale) or of full opacity.
RANGES: dict[str, tuple[float, float]] = {
    "watermark_margin": (0.0, 0.2),
    "watermark_scale": (0.05, 0.5),
    "watermark_opacity": (0.1, 1.0),
}
EDITABLE = (*COLOUR_FIELDS, "watermark_asset_id", "watermark_position", *RANGES, "font_reset")

_HEX = re.compile(r"#[0-9a-f]{6}")
# sfnt versions of TrueType (0x00010000, Apple 'true') and OpenType with CFF outlines ('OTTO').
_FONT_MAGIC = {b"\x00\x01\x00\x00": "ttf", b"true": "ttf", b"OTTO": "otf"}
_LABELS = {
    "background": N_("Background colour"),
    "brand_colour": N_("Brand colour"),
    "text_colour": N_("Text colour"),
    "watermark_margin": N_("Logo margin"),
    "watermark_scale": N_("Logo size"),
    "watermark_opacity": N_("Logo opacity"),
}


def rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@dataclass(frozen=True)
class Brand:
    """The brand settings as stored; version is the record's ETag, or 'default' before the first save."""

    background: str = "#ffffff"
    brand_colour: str = "#005293"
    text_colour: str = "#ffffff"
    watermark_asset_id: str = ""
    watermark_position: str = "bottom-right"
    watermark_margin: float = 0.03
    watermark_scale: float = 0.18
    watermark_opacity: float = 0.85
    font_key: str = ""
    font_name: str = ""
    updated_at: str = ""
    updated_by: str = ""
    version: str = field(default=DEFAULT_VERSION, compare=False)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], version: str) -> Brand:
        known = {f.name for f in fields(cls)} - {"version"}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        return cls(**values, version=version)

    def to_data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}

    def public(self) -> dict[str, Any]:
        """What the API shows: the settings and their version (the storage key of the font stays inside)."""
        data = self.to_data()
        data.pop("font_key")
        return data | {"has_font": bool(self.font_key), "version": self.version}

    def look(self, settings: Settings, font: bytes | None = None) -> Look:
        """The imaging pipeline's Look for these settings, with the encoder qualities of the instance."""
        return Look(
            background=rgb(self.background),
            brand_colour=rgb(self.brand_colour),
            text_colour=rgb(self.text_colour),
            watermark_position=self.watermark_position,
            watermark_margin=self.watermark_margin,
            watermark_scale=self.watermark_scale,
            watermark_opacity=self.watermark_opacity,
            jpeg_quality=settings.jpeg_quality,
            webp_quality=settings.webp_quality,
            font=font,
        )


@dataclass(frozen=True)
class CheckedFont:
    """A font file that FreeType loads, with where it is kept and what it calls itself."""

    data: bytes
    key: str
    name: str


def check_font(data: bytes) -> CheckedFont:
    """A .ttf/.otf file validated by loading it as Pillow will when it sets a headline."""
    if len(data) > MAX_FONT_BYTES:
        raise TooLarge(N_("The font file is larger than %(limit)s MB."), limit=MAX_FONT_BYTES // 2**20)
    kind = _FONT_MAGIC.get(data[:4])
    if kind is None:
        raise Invalid(N_("This is not a TrueType (.ttf) or OpenType (.otf) font file."))
    try:
        font = ImageFont.truetype(io.BytesIO(data), size=24)
        family, style = font.getname()
        usable = font.getlength("Ag") > 0
    except (OSError, ValueError):
        usable, family, style = False, "", ""
    if not usable:
        raise Invalid(N_("The font file is damaged or has no letters in it."))
    digest = hashlib.sha256(data).hexdigest()
    name = " ".join(part for part in (family, style) if part and part != "Regular") or family or ""
    return CheckedFont(data, f"{FONT_PREFIX}font-{digest}.{kind}", name)


def clean_values(values: Mapping[str, Any], assets: Assets) -> dict[str, Any]:
    """Validated brand fields from an edit; Invalid names the first problem."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise Invalid(N_("These fields cannot be changed: %(fields)s."), fields=", ".join(unknown))
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key in COLOUR_FIELDS:
            colour = value.strip().lower() if isinstance(value, str) else ""
            if not _HEX.fullmatch(colour):
                raise Invalid(N_("%(field)s must be a colour like #005293."), field=_LABELS[key])
            clean[key] = colour
        elif key in RANGES:
            clean[key] = _share(key, value)
        elif key == "watermark_position":
            if value not in WATERMARK_POSITIONS:
                raise Invalid(
                    N_("Unknown logo position %(position)s. Choose one of: %(positions)s."),
                    position=str(value),
                    positions=", ".join(WATERMARK_POSITIONS),
                )
            clean[key] = value
        elif key == "watermark_asset_id":
            clean[key] = _watermark_asset(value, assets)
        elif key == "font_reset":
            if not isinstance(value, bool):
                raise Invalid(N_("%(field)s must be true or false."), field=key)
            if value:
                clean["font_key"] = ""
                clean["font_name"] = ""
    return clean


def _share(key: str, value: Any) -> float:
    low, high = RANGES[key]
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise Invalid(
            N_("%(field)s must be between %(low)s%% and %(high)s%% of the image."),
            field=_LABELS[key],
            low=_percent(low),
            high=_percent(high),
        )
    return round(number, 4)


def _percent(share: float) -> str:
    return f"{share * 100:g}"


def _watermark_asset(value: Any, assets: Assets) -> str:
    if value in (None, ""):
        return ""
    asset = assets.get(value) if isinstance(value, str) else None
    if asset is None:
        raise Invalid(N_("The logo must be an image from the library."))
    if asset.status != "approved":
        raise Invalid(N_("Approve the logo image in the library before using it as the watermark."))
    return asset.id


class BrandSettings:
    """Service `portal.brand`: the current brand settings, changes to them, and their Look."""

    def __init__(self, records: Records, store: Store, audit: AuditLog, assets: Assets) -> None:
        self.records = records
        self.store = store
        self.audit = audit
        self.assets = assets
        self._parsed: Brand = Brand()
        # Fonts are named by their digest, so a font read once never changes.
        self._fonts: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def current(self) -> Brand:
        """The brand settings as this instance knows them (from memory: cheap on every request)."""
        record = self.records.get(SETTINGS, BRAND_ID)
        if record is None:
            return Brand()
        parsed = self._parsed
        if parsed.version != record.version:
            parsed = Brand.from_data(record.data, record.version)
            self._parsed = parsed
        return parsed

    def logo(self, brand: Brand | None = None) -> Asset | None:
        """The watermark's asset, while it is still in the library."""
        brand = brand or self.current()
        return self.assets.get(brand.watermark_asset_id) if brand.watermark_asset_id else None

    def font_bytes(self, brand: Brand | None = None) -> bytes | None:
        """The uploaded headline font, or None for Pillow's built-in one. Reads the store once per font."""
        brand = brand or self.current()
        if not brand.font_key:
            return None
        with self._lock:
            data = self._fonts.get(brand.font_key)
        if data is None:
            data, _ = self.store.read(brand.font_key)
            with self._lock:
                self._fonts[brand.font_key] = data
        return data

    def look(self, settings: Settings, brand: Brand | None = None) -> Look:
        """The Look of the current (or given) brand settings, font included."""
        brand = brand or self.current()
        return brand.look(settings, self.font_bytes(brand))

    def preview(self, values: Mapping[str, Any]) -> Brand:
        """The current settings with unsaved changes applied, validated, nothing stored."""
        return replace(self.current(), **clean_values(values, self.assets))

    def update(
        self,
        values: Mapping[str, Any],
        actor: User | None,
        version: str | None = None,
        *,
        client_version: bool = False,
        font: bytes | None = None,
    ) -> Brand:
        """Change the brand settings; with a version, only if they are still at it.

        font: a new headline font file (validated, stored by digest). A stale version raises
        PreconditionFailed when it came from the client (If-Match), Conflict otherwise. Every input
        is checked before anything is written.
        """
        current = self.current()
        if version is not None and version != current.version:
            try:
                self.records.at_version(SETTINGS, BRAND_ID, version, client_version=client_version)
            except NotFound:
                # Never saved anywhere: the only current version is the built-in default.
                raise (PreconditionFailed() if client_version else Conflict()) from None
            current = self.current()
        clean = clean_values(values, self.assets)
        checked = check_font(font) if font is not None else None
        if checked is not None:
            clean["font_key"] = checked.key
            clean["font_name"] = checked.name
        changed = sorted(k for k, v in clean.items() if getattr(current, k) != v)
        if not changed:
            return current
        if checked is not None and "font_key" in changed:
            # The blob before the record that points at it.
            self.store.put(checked.key, checked.data, content_type="font/" + checked.key.rsplit(".", 1)[1])
            with self._lock:
                self._fonts[checked.key] = checked.data
        data = replace(current, **clean).to_data() | {
            "updated_at": iso(now()),
            "updated_by": actor.id if actor else "",
        }
        if current.version == DEFAULT_VERSION:
            try:
                record = self.records.create(SETTINGS, BRAND_ID, data)
            except Conflict:
                # Someone saved the first brand settings a moment earlier.
                raise (PreconditionFailed() if client_version else Conflict()) from None
        else:
            record = self.records.update(
                SETTINGS, BRAND_ID, data, version=current.version, client_version=client_version
            )
        self.audit.record(
            actor,
            "brand.update",
            SETTINGS,
            BRAND_ID,
            None if current.version == DEFAULT_VERSION else current.version,
            record.version,
            {"fields": [k for k in changed if k != "font_name"]},
        )
        return self.current()


def seed(portal: Portal) -> None:
    """Demo brand settings: the demo logo (an approved PNG tagged 'logo') as the watermark."""
    logos = [a for a in portal.assets.all() if a.status == "approved" and "logo" in a.tags]
    if not logos:
        return
    marketing = portal.accounts.by_email("marketing@example.com")
    portal.brand.update({"watermark_asset_id": logos[0].id}, marketing)
