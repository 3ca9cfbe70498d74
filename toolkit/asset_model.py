"""An image of the library as the rest of the portal sees it, and the small values around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from toolkit.imaging.master import THUMB_WIDTHS
from toolkit.records import Record


def today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Asset:
    """One image in the library, as its record says."""

    id: str
    version: str
    title: str
    status: str
    width: int
    height: int
    content_type: str
    size: int  # the record's "bytes": size of the original
    sha256: str
    original_key: str
    master_key: str
    master_type: str
    master_width: int
    master_height: int
    thumbs: dict[str, str] = field(default_factory=dict)
    description: str = ""
    alt_text: str = ""
    tags: tuple[str, ...] = ()
    focal: tuple[float, float] | None = None
    source: str = ""
    licence: str = ""
    rights_expires: str | None = None
    shows_people: bool = False
    consent_expires: str | None = None
    created_at: str = ""
    created_by: str = ""
    updated_at: str = ""

    @classmethod
    def from_record(cls, record: Record) -> Asset:
        d = record.data
        focal = d.get("focal")
        return cls(
            id=record.id,
            version=record.version,
            title=d.get("title", ""),
            status=d.get("status", "draft"),
            width=int(d.get("width", 0)),
            height=int(d.get("height", 0)),
            content_type=d.get("content_type", ""),
            size=int(d.get("bytes", 0)),
            sha256=d.get("sha256", ""),
            original_key=d.get("original_key", ""),
            master_key=d.get("master_key", ""),
            master_type=d.get("master_type", ""),
            master_width=int(d.get("master_width", 0)),
            master_height=int(d.get("master_height", 0)),
            thumbs=dict(d.get("thumbs") or {}),
            description=d.get("description", ""),
            alt_text=d.get("alt_text", ""),
            tags=tuple(d.get("tags") or ()),
            focal=(float(focal[0]), float(focal[1])) if focal else None,
            source=d.get("source", ""),
            licence=d.get("licence", ""),
            rights_expires=d.get("rights_expires"),
            shows_people=bool(d.get("shows_people", False)),
            consent_expires=d.get("consent_expires"),
            created_at=d.get("created_at", ""),
            created_by=d.get("created_by", ""),
            updated_at=d.get("updated_at", ""),
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "alt_text": self.alt_text,
            "tags": list(self.tags),
            "status": self.status,
            "focal": list(self.focal) if self.focal else None,
            "source": self.source,
            "licence": self.licence,
            "rights_expires": self.rights_expires,
            "shows_people": self.shows_people,
            "consent_expires": self.consent_expires,
            "width": self.width,
            "height": self.height,
            "content_type": self.content_type,
            "bytes": self.size,
            "sha256": self.sha256,
            "original_key": self.original_key,
            "master_key": self.master_key,
            "master_type": self.master_type,
            "master_width": self.master_width,
            "master_height": self.master_height,
            "thumbs": dict(self.thumbs),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
        }

    def expiries(self) -> list[tuple[date, str]]:
        """(date, 'rights' or 'consent') from which the image may no longer be shared."""
        found = []
        if self.rights_expires:
            found.append((date.fromisoformat(self.rights_expires), "rights"))
        # Consent only matters for pictures of people; a leftover date on another image is ignored.
        if self.shows_people and self.consent_expires:
            found.append((date.fromisoformat(self.consent_expires), "consent"))
        return sorted(found)

    @property
    def expires(self) -> date | None:
        """The first day on which the image drops out of the employee view, if any."""
        dates = self.expiries()
        return dates[0][0] if dates else None

    def usable_on(self, day: date) -> bool:
        """Whether employees may see and share the image on that day."""
        expires = self.expires
        return self.status == "approved" and (expires is None or day < expires)

    def public(self, day: date | None = None) -> dict[str, Any]:
        """The asset as the API shows it (storage keys stay inside)."""
        data = self.to_data()
        for key in ("original_key", "master_key", "thumbs"):
            data.pop(key)
        base = f"/api/v1/assets/{self.id}"
        expires = self.expires
        return data | {
            "id": self.id,
            "version": self.version,
            "usable": self.usable_on(day or today()),
            "expires": expires.isoformat() if expires else None,
            "thumbnails": {str(w): f"{base}/thumb?w={w}" for w in THUMB_WIDTHS},
            "master_url": f"{base}/master",
        }


@dataclass(frozen=True)
class UploadedFile:
    """An upload received into a temporary file, with what was learnt while receiving it."""

    path: Path
    size: int
    sha256: str
    filename: str = ""


@dataclass(frozen=True)
class SearchResult:
    items: list[Asset]
    total: int
    page: int
    per_page: int
    tag_counts: list[tuple[str, int]]  # over every match, most used first

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class ExpiryNotice:
    asset: Asset
    on: date
    what: str  # "rights" or "consent"
    expired: bool
