"""Brand imagery: uploads with their master and thumbnails, curation, and who may see which image.

An asset is one record (records/assets/<id>.json) plus blobs under blobs/assets/<id>/: the
original exactly as uploaded, a working master and small thumbnails, all made once at upload so
nothing later decodes the original again. Employees only ever see approved images whose rights
and consent have not expired; to them everything else does not exist.

Duplicate uploads are found by the file's sha256: a claim record (kind "asset-hashes", id =
sha256) is created with If-None-Match, so two instances receiving the same bytes at the same
moment still end up with one asset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from toolkit.accounts import User, iso, now
from toolkit.asset_fields import (
    STATUSES,
    TEXT_LIMITS,
    clean_changes,
    fold,
    normalise_tags,
    title_from,
    words_of,
)
from toolkit.asset_model import Asset as Asset
from toolkit.asset_model import ExpiryNotice as ExpiryNotice
from toolkit.asset_model import SearchResult as SearchResult
from toolkit.asset_model import UploadedFile as UploadedFile
from toolkit.asset_model import today as today
from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Invalid, NotFound
from toolkit.imaging.budget import MB, DecodeBudget
from toolkit.imaging.master import THUMB_WIDTHS, process_upload
from toolkit.imaging.tiles import REVISION as TILES_REVISION
from toolkit.imaging.tiles import tiles_from_master
from toolkit.records import Record, Records, new_id
from toolkit.store import ObjectMissing, Store

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

ASSETS = "assets"
HASHES = "asset-hashes"
POSTS = "posts"
BLOB_PREFIX = "blobs/assets/"
RENDITION_PREFIX = "renditions/"
# Beside the master in the asset's folder; a new tile layout gets a new name, made on first use.
TILES_NAME = f"tiles-{TILES_REVISION}.bin"
TILES_TYPE = "application/octet-stream"
EXPIRING_DAYS = 30

# A claim whose asset never appeared is a crash between claim and record; after this long nobody
# is still finishing that upload and the claim may be taken over.
_CLAIM_STALE = timedelta(minutes=10)
# Masters are read for every uncached rendition and thumbnails for every grid; both are immutable
# per asset, so a byte-bounded LRU per instance serves the hot ones from memory.
MASTER_CACHE_BYTES = 64 * 1024 * 1024
# TOOLKIT_MAX_DECODE_MB's default (toolkit.settings), for instances made without settings.
DEFAULT_MAX_DECODE_MB = 256
THUMB_CACHE_BYTES = 32 * 1024 * 1024



def tiles_key(asset_id: str) -> str:
    return f"{BLOB_PREFIX}{asset_id}/{TILES_NAME}"


@dataclass
class _Indexed:
    """An asset with what filtering needs precomputed, so a search is a few passes over a list."""

    asset: Asset
    words: str  # " word word ..." so a query word matches the start of any word
    tags: frozenset[str]
    status: str
    expires: date | None

    def usable_on(self, day: date) -> bool:
        return self.status == "approved" and (self.expires is None or day < self.expires)


class _ByteLRU:
    """Bytes by key, least recently used dropped first once the total passes a budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.budget // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def discard_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                self._size -= len(self._items.pop(key))


class Assets:
    """The library of one instance: reads from the record index, writes through to the store."""

    def __init__(
        self,
        records: Records,
        store: Store,
        audit: AuditLog,
        *,
        max_pixels: int,
        max_decode_mb: int = DEFAULT_MAX_DECODE_MB,
    ) -> None:
        self.records = records
        self.store = store
        self.audit = audit
        self.max_pixels = max_pixels
        # Shared by every upload this instance processes: see toolkit.imaging.budget.
        self.decode_budget = DecodeBudget(max_decode_mb * MB)
        self._masters = _ByteLRU(MASTER_CACHE_BYTES)
        self._thumbs = _ByteLRU(THUMB_CACHE_BYTES)
        # The search index follows the record index (local writes and other instances' alike), so
        # the grid and search never list the store.
        self._index: dict[str, _Indexed] = {}
        self._newest_first: list[_Indexed] | None = None
        # What employees see changes only with the index or the date: kept for the day it was made.
        self._usable_cache: tuple[date, list[_Indexed]] | None = None
        self._lock = threading.Lock()
        records.subscribe(self._on_change)

    # Reading

    def get(self, asset_id: str) -> Asset | None:
        with self._lock:
            entry = self._index.get(asset_id)
        return entry.asset if entry else None

    def require(self, asset_id: str) -> Asset:
        asset = self.get(asset_id)
        if asset is None:
            raise NotFound(N_("No such image."))
        return asset

    def visible(self, user: User | None, asset_id: str, *, day: date | None = None) -> Asset:
        """The asset if this person may see it; NotFound otherwise, so drafts never leak.

        Marketing and admins see everything; everyone else only approved images whose rights and
        consent have not expired on that day (today in UTC by default).
        """
        asset = self.get(asset_id)
        if asset is None:
            raise NotFound(N_("No such image."))
        if user is not None and user.is_marketing:
            return asset
        if not asset.usable_on(day or today()):
            raise NotFound(N_("No such image."))
        return asset

    def all(self) -> list[Asset]:
        """Every asset, newest first."""
        return [entry.asset for entry in self._sorted()]

    def search(
        self,
        viewer: User | None,
        *,
        q: str = "",
        tags: Iterable[str] = (),
        status: str | None = None,
        expiring: bool = False,
        page: int = 1,
        per_page: int = 48,
        day: date | None = None,
    ) -> SearchResult:
        """Assets matching every query word (as the start of a word in title, description or tags)
        and every tag, newest first, from memory. Non-marketing viewers only get usable images."""
        day = day or today()
        if status not in (None, "", *STATUSES):
            raise Invalid(N_("Unknown status '%(status)s': use draft, approved or archived."), status=status)
        wanted_tags = frozenset(normalise_tags(list(tags)))
        needles = [f" {w}" for w in words_of(q)]
        privileged = viewer is not None and viewer.is_marketing
        horizon = day + timedelta(days=EXPIRING_DAYS)
        # One pass per filter over the newest-first list: each is a list comprehension in C-speed
        # loops, which keeps a search over 10,000 assets at a few milliseconds.
        entries = self._sorted() if privileged else self._usable(day)
        if privileged and status:
            entries = [e for e in entries if e.status == status]
        if expiring:
            entries = [e for e in entries if e.status == "approved" and e.expires and e.expires <= horizon]
        if wanted_tags:
            entries = [e for e in entries if wanted_tags <= e.tags]
        for needle in needles:
            entries = [e for e in entries if needle in e.words]
        counts = Counter(chain.from_iterable(e.asset.tags for e in entries))
        per_page = max(1, min(per_page, 200))
        page = max(1, page)
        start = (page - 1) * per_page
        return SearchResult(
            items=[e.asset for e in entries[start : start + per_page]],
            total=len(entries),
            page=page,
            per_page=per_page,
            tag_counts=sorted(counts.items(), key=lambda item: (-item[1], item[0])),
        )

    def expiry_report(
        self, *, within_days: int = EXPIRING_DAYS, day: date | None = None
    ) -> list[ExpiryNotice]:
        """Approved images whose rights or consent end within the coming days, or ended already."""
        day = day or today()
        horizon = day + timedelta(days=within_days)
        notices = []
        for asset in self.all():
            if asset.status != "approved":
                continue
            for on, what in asset.expiries():
                if on <= horizon:
                    notices.append(ExpiryNotice(asset, on, what, on <= day))
        return sorted(notices, key=lambda n: (n.on, n.asset.title))

    def where_used(self, asset_id: str) -> list[Record]:
        """Posts whose image is this asset."""
        return [r for r in self.records.all(POSTS) if r.data.get("asset_id") == asset_id]

    def thumb_key(self, asset: Asset, width: int) -> str:
        key = asset.thumbs.get(str(width))
        if key is None:
            raise Invalid(
                N_("Thumbnails come in these widths: %(widths)s."), widths=", ".join(map(str, THUMB_WIDTHS))
            )
        return key

    def master_bytes(self, asset: Asset) -> bytes:
        """The working master (upright sRGB, long edge <= 2560), from memory when it was read lately."""
        return self._cached_blob(self._masters, asset.master_key)

    def render_source(self, asset: Asset) -> bytes:
        """The master's tiles, which renditions are made from; assets uploaded before tiles existed
        get them made from their master on first use, and kept."""
        key = tiles_key(asset.id)
        try:
            return self._cached_blob(self._masters, key)
        except ObjectMissing:
            data = tiles_from_master(self.master_bytes(asset))
        try:
            self.store.put(key, data, content_type=TILES_TYPE)
        except Exception:
            # Made and usable; failing to keep them only costs making them again.
            log.warning("could not store tiles %s", key, exc_info=True)
        self._masters.put(key, data)
        return data

    def thumb_bytes(self, asset: Asset, width: int) -> bytes:
        return self._cached_blob(self._thumbs, self.thumb_key(asset, width))

    def _cached_blob(self, cache: _ByteLRU, key: str) -> bytes:
        data = cache.get(key)
        if data is None:
            data, _ = self.store.read(key)
            cache.put(key, data)
        return data

    # Adding

    def add_upload(
        self,
        upload: UploadedFile,
        *,
        actor: User | None,
        title: str = "",
        tags: Iterable[str] | str = (),
    ) -> tuple[Asset, bool]:
        """Check, process and store an upload: (asset, duplicate).

        The same bytes again give the existing asset and True, storing nothing. Refusals (415 for
        what is not a supported image, 422 for damaged files, too many pixels or a decode larger
        than the decode budget) happen before anything is written, the last two before decoding.
        The file is decoded once, when the decode budget has room for it (it waits until then).
        CPU-heavy: call it from a worker thread.
        """
        existing = self._claimed(upload.sha256)
        if existing is not None:
            return existing, True
        clean_tags = normalise_tags(tags)
        title = " ".join(title.split()) or title_from(upload.filename)
        if len(title) > TEXT_LIMITS["title"]:
            raise Invalid(N_("The title is longer than %(n)s characters."), n=TEXT_LIMITS["title"])
        try:
            return self._add_upload(upload, actor=actor, title=title, tags=clean_tags)
        finally:
            # Decoding large images leaves freed memory in the heap: give it back once all is done.
            self.decode_budget.release_memory()

    def _add_upload(
        self, upload: UploadedFile, *, actor: User | None, title: str, tags: list[str]
    ) -> tuple[Asset, bool]:
        info, master = process_upload(upload.path, max_pixels=self.max_pixels, budget=self.decode_budget)
        thumbs = {str(width): data for width, data in master.thumbs.items()}

        asset_id = new_id()
        folder = f"{BLOB_PREFIX}{asset_id}/"
        master_key = folder + ("master.png" if master.content_type == "image/png" else "master.jpg")
        thumb_keys = {width: f"{folder}thumb-{width}.jpg" for width in thumbs}
        written: list[str] = []
        try:
            # Blobs first, then the claim, then the record: a crash leaves at worst orphan blobs,
            # never a record that points to nothing.
            with open(upload.path, "rb") as original:
                self.store.put(folder + "original", original, content_type=info.content_type)
            written.append(folder + "original")
            self.store.put(master_key, master.data, content_type=master.content_type)
            written.append(master_key)
            self.store.put(tiles_key(asset_id), master.tiles, content_type=TILES_TYPE)
            written.append(tiles_key(asset_id))
            for width, data in thumbs.items():
                self.store.put(thumb_keys[width], data, content_type="image/jpeg")
                written.append(thumb_keys[width])
            duplicate_of = self._claim(upload.sha256, asset_id)
            if duplicate_of is not None:
                self._delete_quietly(written)
                return duplicate_of, True
            moment = iso(now())
            asset = Asset(
                id=asset_id,
                version="",
                title=title,
                status="draft",
                width=info.width,
                height=info.height,
                content_type=info.content_type,
                size=upload.size,
                sha256=upload.sha256,
                original_key=folder + "original",
                master_key=master_key,
                master_type=master.content_type,
                master_width=master.width,
                master_height=master.height,
                thumbs=thumb_keys,
                tags=tuple(tags),
                created_at=moment,
                created_by=actor.id if actor else "",
                updated_at=moment,
            )
            try:
                record = self.records.create(ASSETS, asset_id, asset.to_data())
            except BaseException:
                with contextlib.suppress(Exception):
                    self.records.delete(HASHES, upload.sha256)
                raise
        except BaseException:
            self._delete_quietly(written)
            raise
        self._masters.put(master_key, master.data)
        self._masters.put(tiles_key(asset_id), master.tiles)
        self.audit.record(
            actor,
            "asset.create",
            ASSETS,
            asset_id,
            None,
            record.version,
            {
                "title": title,
                "sha256": upload.sha256,
                "bytes": upload.size,
                "content_type": info.content_type,
            },
        )
        return Asset.from_record(record), False

    def _claimed(self, sha256: str) -> Asset | None:
        claim = self.records.get(HASHES, sha256)
        return self.get(claim.data.get("asset_id", "")) if claim else None

    def _claim(self, sha256: str, asset_id: str) -> Asset | None:
        """Claim these bytes for asset_id; the asset that has them already, if another upload won."""
        claim = {"asset_id": asset_id, "claimed_at": iso(now())}
        try:
            self.records.create(HASHES, sha256, claim)
            return None
        except Conflict:
            pass
        # Another upload of the same bytes claimed them first, maybe on another instance whose
        # asset record this index has not seen yet: read both from the store, not the whole journal.
        current = self.records.reread(HASHES, sha256)
        if current is not None and current.data.get("asset_id"):
            self.records.reread(ASSETS, str(current.data["asset_id"]))
        if current is None:
            self.records.create(HASHES, sha256, claim)
            return None
        winner = self.get(current.data.get("asset_id", ""))
        if winner is not None:
            return winner
        claimed_at = datetime.fromisoformat(current.data.get("claimed_at") or "1970-01-01T00:00:00+00:00")
        if now() - claimed_at < _CLAIM_STALE:
            raise Conflict(N_("The same file is being added right now. Try again in a minute."))
        # A claim left by a crash (or by an interrupted purge): this upload takes it over.
        self.records.update(HASHES, sha256, claim, version=current.version)
        return None

    # Changing

    def update(
        self,
        asset_id: str,
        changes: Mapping[str, Any],
        *,
        actor: User | None,
        version: str | None = None,
        client_version: bool = False,
    ) -> Asset:
        """Change curation fields; with a version, only if the asset is still at it.

        A stale version raises PreconditionFailed when it came from the client (If-Match),
        Conflict otherwise.
        """
        self.require(asset_id)
        self.records.at_version(ASSETS, asset_id, version, client_version=client_version)
        current = self.require(asset_id)
        clean = clean_changes(changes)
        if not clean:
            return current
        data = current.to_data() | clean | {"updated_at": iso(now())}
        record = self.records.update(
            ASSETS, asset_id, data, version=version or current.version, client_version=client_version
        )
        changed = sorted(k for k in clean if clean[k] != current.to_data().get(k))
        action = "asset.update"
        if "status" in changed:
            action = {"approved": "asset.approve", "archived": "asset.archive"}.get(clean["status"], action)
        self.audit.record(
            actor, action, ASSETS, asset_id, current.version, record.version, {"fields": changed}
        )
        return Asset.from_record(record)

    def approve(self, asset_id: str, *, actor: User | None) -> Asset:
        """Let employees see and share the image (from its next day of validity, if it has one)."""
        return self.update(asset_id, {"status": "approved"}, actor=actor)

    def archive(self, asset_id: str, *, actor: User | None, version: str | None = None) -> Asset:
        return self.update(
            asset_id, {"status": "archived"}, actor=actor, version=version, client_version=version is not None
        )

    def bulk(self, asset_ids: Iterable[str], action: str, *, actor: User | None, tags: str = "") -> int:
        """Apply 'tag' (add tags), 'approve' or 'archive' to many assets; returns how many changed."""
        if action not in ("tag", "approve", "archive"):
            raise Invalid(N_("Choose what to do with the selected images."))
        new_tags = normalise_tags(tags) if action == "tag" else []
        if action == "tag" and not new_tags:
            raise Invalid(N_("Type the tags to add."))
        ids = list(dict.fromkeys(asset_ids))
        if not ids:
            raise Invalid(N_("Select at least one image."))
        for asset_id in ids:
            self.require(asset_id)
        changed = 0
        for asset_id in ids:
            current = self.require(asset_id)

            def change(data: dict[str, Any]) -> dict[str, Any]:
                if action == "tag":
                    data["tags"] = normalise_tags([*data.get("tags", []), *new_tags])
                else:
                    data["status"] = "approved" if action == "approve" else "archived"
                data["updated_at"] = iso(now())
                return data

            if action == "tag" and set(new_tags) <= set(current.tags):
                continue
            if action != "tag" and current.status == ("approved" if action == "approve" else "archived"):
                continue
            # modify() retries on a concurrent edit: adding tags or setting a status commutes.
            record = self.records.modify(ASSETS, asset_id, change)
            verb = {"tag": "asset.update", "approve": "asset.approve", "archive": "asset.archive"}[action]
            self.audit.record(
                actor,
                verb,
                ASSETS,
                asset_id,
                current.version,
                record.version,
                {"bulk": action, "tags": new_tags},
            )
            changed += 1
        return changed

    def purge(self, asset_id: str, *, actor: User | None) -> None:
        """Remove an archived asset for good: its record, then the original, master, thumbnails
        and every cached rendition."""
        asset = self.require(asset_id)
        if asset.status != "archived":
            raise Conflict(N_("Archive the image before deleting it for good."))
        live = [r for r in self.where_used(asset_id) if r.data.get("status") != "archived"]
        if live:
            raise Conflict(
                N_("This image is still used by: %(posts)s. Choose another image there first."),
                posts=", ".join(str(r.data.get("title", r.id)) for r in live),
            )
        # The record goes first: from that moment nothing points at the blobs, and a crash
        # halfway leaves only orphans.
        self.records.delete(ASSETS, asset_id, version=asset.version)
        claim = self.records.get(HASHES, asset.sha256)
        if claim is not None and claim.data.get("asset_id") == asset_id:
            with contextlib.suppress(Conflict, NotFound):
                self.records.delete(HASHES, asset.sha256, version=claim.version)
        keys = [info.key for info in self.store.list(f"{BLOB_PREFIX}{asset_id}/")]
        keys += [info.key for info in self.store.list(f"{RENDITION_PREFIX}{asset_id}/")]
        for key in keys:
            self.store.delete(key)
        self._masters.discard_prefix(f"{BLOB_PREFIX}{asset_id}/")
        self._thumbs.discard_prefix(f"{BLOB_PREFIX}{asset_id}/")
        self.audit.record(
            actor,
            "asset.purge",
            ASSETS,
            asset_id,
            asset.version,
            None,
            {"title": asset.title, "objects": len(keys)},
        )

    def _delete_quietly(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.store.delete(key)
            except Exception:
                log.warning("could not remove %s after a failed upload; it is an orphan now", key)

    # The search index

    def _on_change(self, kind: str, before: Record | None, after: Record | None) -> None:
        if kind != ASSETS:
            return
        with self._lock:
            if after is None:
                if before is not None:
                    self._index.pop(before.id, None)
            else:
                asset = Asset.from_record(after)
                searchable = " ".join([asset.title, asset.description, *asset.tags])
                # Whole tags are indexed too, so a query for "trade-show" finds the tag as typed.
                tokens = words_of(searchable) + [fold(t) for t in asset.tags]
                self._index[asset.id] = _Indexed(
                    asset, " " + " ".join(tokens), frozenset(asset.tags), asset.status, asset.expires
                )
            self._newest_first = None
            self._usable_cache = None

    def _usable(self, day: date) -> list[_Indexed]:
        entries = self._sorted()
        with self._lock:
            cached = self._usable_cache
            if cached is not None and cached[0] == day:
                return cached[1]
        usable = [e for e in entries if e.usable_on(day)]
        with self._lock:
            if self._newest_first is entries:
                self._usable_cache = (day, usable)
        return usable

    def _sorted(self) -> list[_Indexed]:
        with self._lock:
            if self._newest_first is None:
                self._newest_first = sorted(
                    self._index.values(), key=lambda e: (e.asset.created_at, e.asset.id), reverse=True
                )
            return self._newest_first
