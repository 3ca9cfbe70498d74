"""Share-ready images made once and kept: in memory, in the store, and rendered only when neither has it.

A rendition's key is a digest of everything that decides its bytes: the asset's version (its record
ETag, which changes with focal point and alt text), the preset, the format, whether a logo is drawn
and which, the headline, the brand settings' version and the encoder qualities. A change to any of
them makes a new key, so a stale image is never served and nothing has to be invalidated.

Lookup: a byte-bounded in-memory LRU, then the store (renditions/<asset id>/<key>.<ext>, so purging
an asset removes its renditions with it), then the pipeline, in the calling thread. Requests for
the same key that arrive while it is being made wait for that one computation (single flight).

Whether a rendition is low resolution (its source was too small to fill the preset) is only known
after rendering, and the store keeps no metadata: it is part of the stored object's name
(<key>.low.<ext>), and the store lookup lists the key's prefix, which finds either name in one
request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from toolkit.assets import RENDITION_PREFIX, Asset, Assets
from toolkit.brand import Brand, BrandSettings
from toolkit.errors import N_, Invalid
from toolkit.imaging.presets import Preset, get_preset
from toolkit.imaging.render import FORMATS, render_share_image
from toolkit.metrics import Metrics
from toolkit.settings import Settings
from toolkit.store import ObjectMissing, Store

log = logging.getLogger(__name__)

EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
LOW_RESOLUTION_MARK = ".low"
# Bump when the pipeline changes what it draws, so renditions made by older code are not reused.
PIPELINE_REVISION = "1"
# One rendition may take at most this share of the memory budget, so a few huge PNGs cannot
# push out hundreds of hot JPEGs.
_LARGEST_SHARE = 8
# Remembered rendition keys; forgotten all at once when full (recomputing one costs microseconds).
_KEY_MEMO = 50_000


@dataclass(frozen=True)
class RenditionResult:
    """An encoded share image; etag is its rendition key (send it quoted as a strong ETag), or empty for
    a preview of unsaved brand settings, which has no version."""

    data: bytes
    content_type: str
    width: int
    height: int
    low_resolution: bool
    etag: str


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Invalid(
            N_("Unknown image format %(format)s. Choose one of: %(formats)s."),
            format=fmt,
            formats=", ".join(FORMATS),
        )
    return fmt


def clean_headline(headline: str | None) -> str:
    return " ".join(headline.split()) if headline else ""


class RenditionCache:
    """Renditions by key, least recently used dropped first once their bytes pass the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, RenditionResult] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> RenditionResult | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, item: RenditionResult) -> None:
        if len(item.data) > self.budget // _LARGEST_SHARE:
            return
        with self._lock:
            if item.etag in self._items:
                return
            self._items[item.etag] = item
            self._size += len(item.data)
            while self._size > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.data)

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    def __len__(self) -> int:
        return len(self._items)


class _SingleFlight:
    """Runs one computation per key at a time; callers asking meanwhile get its result."""

    def __init__(self) -> None:
        self._running: dict[str, Future[RenditionResult]] = {}
        self._lock = threading.Lock()

    def run(self, key: str, compute: Callable[[], RenditionResult]) -> RenditionResult:
        with self._lock:
            future = self._running.get(key)
            leader = future is None
            if future is None:
                future = self._running[key] = Future()
        if not leader:
            return future.result()
        try:
            result = compute()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            # compute() cached the result before this, so a request arriving now finds it in memory.
            with self._lock:
                del self._running[key]


class Renditions:
    """Service `portal.renditions`."""

    def __init__(
        self,
        store: Store,
        assets: Assets,
        brand: BrandSettings,
        settings: Callable[[], Settings],
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.assets = assets
        self.brand = brand
        self._settings = settings
        self.metrics = metrics or Metrics()
        self.memory = RenditionCache(settings().rendition_cache_mb * 1024 * 1024)
        self._flights = _SingleFlight()
        self._keys: dict[tuple[object, ...], str] = {}

    def key(
        self,
        asset: Asset,
        preset: Preset | str,
        fmt: str,
        *,
        watermark: bool = True,
        headline: str | None = None,
        brand: Brand | None = None,
    ) -> str:
        """The rendition key (also its strong ETag): cheap, from memory only."""
        preset = get_preset(preset) if isinstance(preset, str) else preset
        brand = brand or self.brand.current()
        logo = self.brand.logo(brand) if watermark else None
        settings = self._settings()
        parts = (
            asset.id,
            asset.version,
            preset.name,
            preset.width,
            preset.height,
            check_format(fmt),
            # No logo configured (or it left the library) renders the same as watermark=0: one key.
            logo.id if logo is not None else "",
            clean_headline(headline),
            brand.version,
            settings.jpeg_quality,
            settings.webp_quality,
        )
        # Every cached image request asks for its key; hashing is the costly part, so remember it.
        key = self._keys.get(parts)
        if key is None:
            key = hashlib.sha256(json.dumps([PIPELINE_REVISION, *parts]).encode()).hexdigest()[:32]
            if len(self._keys) >= _KEY_MEMO:
                self._keys.clear()
            self._keys[parts] = key
        return key

    def peek(self, key: str) -> RenditionResult | None:
        """The rendition with that key when it is in memory; never blocks on the store."""
        return self.memory.get(key)

    def render(
        self,
        asset: Asset,
        preset: Preset | str,
        fmt: str,
        *,
        watermark: bool = True,
        headline: str | None = None,
    ) -> RenditionResult:
        """The share-ready image: from memory, else from the store, else rendered, stored and cached.

        Rendering happens in the calling thread (call this from a worker thread, not the event loop).
        """
        preset = get_preset(preset) if isinstance(preset, str) else preset
        brand = self.brand.current()
        key = self.key(asset, preset, fmt, watermark=watermark, headline=headline, brand=brand)
        found = self.memory.get(key)
        if found is not None:
            return found
        return self._flights.run(
            key, lambda: self._fetch_or_make(key, asset, preset, fmt, watermark, headline, brand)
        )

    def preview(
        self,
        asset: Asset,
        preset: Preset | str,
        fmt: str,
        *,
        brand: Brand,
        watermark: bool = True,
        headline: str | None = None,
    ) -> RenditionResult:
        """A rendition with brand settings that are not saved: rendered every time, never kept."""
        preset = get_preset(preset) if isinstance(preset, str) else preset
        # No key: these bytes belong to no version of the settings and must not be cached by ETag.
        return self._make("", asset, preset, check_format(fmt), watermark, headline, brand)

    def _fetch_or_make(
        self,
        key: str,
        asset: Asset,
        preset: Preset,
        fmt: str,
        watermark: bool,
        headline: str | None,
        brand: Brand,
    ) -> RenditionResult:
        found = self.memory.get(key)
        if found is None:
            found = self._from_store(key, asset, preset, fmt)
        if found is None:
            found = self._make(key, asset, preset, fmt, watermark, headline, brand)
            self._keep(asset, found, fmt)
        self.memory.put(found)
        return found

    def _from_store(self, key: str, asset: Asset, preset: Preset, fmt: str) -> RenditionResult | None:
        # The trailing dot keeps <key>.jpg and <key>.low.jpg in and any other key out.
        for info in self.store.list(f"{RENDITION_PREFIX}{asset.id}/{key}."):
            low_resolution = info.key.endswith(f"{LOW_RESOLUTION_MARK}.{EXTENSIONS[fmt]}")
            try:
                data, _ = self.store.read(info.key)
            except ObjectMissing:
                # Purged between the listing and the read: render it again instead.
                log.warning("rendition %s vanished while being read", info.key)
                return None
            return RenditionResult(data, FORMATS[fmt], preset.width, preset.height, low_resolution, key)
        return None

    def _make(
        self,
        key: str,
        asset: Asset,
        preset: Preset,
        fmt: str,
        watermark: bool,
        headline: str | None,
        brand: Brand,
    ) -> RenditionResult:
        logo = self.brand.logo(brand) if watermark else None
        started = time.perf_counter()
        made = render_share_image(
            self.assets.render_source(asset),
            preset,
            fmt,
            look=self.brand.look(self._settings(), brand),
            focal=asset.focal,
            logo=self.assets.master_bytes(logo) if logo is not None else None,
            headline=clean_headline(headline) or None,
            description=asset.alt_text or None,
        )
        self.metrics.render_seconds.observe(time.perf_counter() - started)
        return RenditionResult(
            made.data, made.content_type, made.width, made.height, made.low_resolution, key
        )

    def _keep(self, asset: Asset, made: RenditionResult, fmt: str) -> None:
        mark = LOW_RESOLUTION_MARK if made.low_resolution else ""
        name = f"{RENDITION_PREFIX}{asset.id}/{made.etag}{mark}.{EXTENSIONS[fmt]}"
        try:
            self.store.put(name, made.data, content_type=made.content_type)
        except Exception:
            # The image is made; failing to keep it only costs another render later.
            log.warning("could not store rendition %s", name, exc_info=True)
