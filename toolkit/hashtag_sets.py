"""Curated, named lists of hashtags marketing maintains (e.g. 'Employer brand')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.accounts import User, iso, now
from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Invalid, NotFound
from toolkit.fields import text_field
from toolkit.hashtags import normalise_hashtags
from toolkit.records import Record, Records, new_id

KIND = "hashtag-sets"


@dataclass(frozen=True)
class HashtagSet:
    id: str
    name: str
    description: str
    hashtags: tuple[str, ...]
    updated_at: str
    version: str

    @classmethod
    def from_record(cls, record: Record) -> HashtagSet:
        data = record.data
        return cls(
            record.id,
            data.get("name", ""),
            data.get("description", ""),
            tuple(data.get("hashtags", [])),
            data.get("updated_at", ""),
            record.version,
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "hashtags": list(self.hashtags),
            "updated_at": self.updated_at,
            "version": self.version,
        }


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    name = text_field(values, "name").strip()
    if not name or len(name) > 120:
        raise Invalid(N_("Give the hashtag set a name of at most 120 characters."))
    description = text_field(values, "description").strip()[:500]
    raw = values.get("hashtags", [])
    if not isinstance(raw, str | list):
        raise Invalid(N_("Hashtags must be a list or a comma-separated text."))
    hashtags = normalise_hashtags(raw)
    if not hashtags:
        raise Invalid(N_("Add at least one hashtag."))
    return {"name": name, "description": description, "hashtags": hashtags, "updated_at": iso(now())}


class HashtagSets:
    def __init__(self, records: Records, audit: AuditLog) -> None:
        self.records = records
        self.audit = audit

    def all(self) -> list[HashtagSet]:
        return sorted(
            (HashtagSet.from_record(r) for r in self.records.all(KIND)), key=lambda s: s.name.lower()
        )

    def get(self, set_id: str) -> HashtagSet | None:
        record = self.records.get(KIND, set_id)
        return HashtagSet.from_record(record) if record else None

    def require(self, set_id: str) -> HashtagSet:
        found = self.get(set_id)
        if found is None:
            raise NotFound(N_("No such hashtag set."))
        return found

    def create(self, values: dict[str, Any], actor: User) -> HashtagSet:
        data = _clean(values)
        if any(s.name.lower() == data["name"].lower() for s in self.all()):
            raise Conflict(N_("There is already a hashtag set called '%(name)s'."), name=data["name"])
        record = self.records.create(KIND, new_id(), data)
        self.audit.record(
            actor, "hashtag-set.create", KIND, record.id, None, record.version, {"name": data["name"]}
        )
        return HashtagSet.from_record(record)

    def update(
        self, set_id: str, values: dict[str, Any], actor: User, *, version: str | None = None
    ) -> HashtagSet:
        self.require(set_id)
        # Merging onto an older copy than the client saw would silently undo a newer write.
        current = HashtagSet.from_record(self.records.at_version(KIND, set_id, version))
        merged = {
            "name": current.name,
            "description": current.description,
            "hashtags": list(current.hashtags),
        }
        merged.update({k: v for k, v in values.items() if k in merged})
        data = _clean(merged)
        if any(s.id != set_id and s.name.lower() == data["name"].lower() for s in self.all()):
            raise Conflict(N_("There is already a hashtag set called '%(name)s'."), name=data["name"])
        record = self.records.update(
            KIND, set_id, data, version=version or current.version, client_version=version is not None
        )
        self.audit.record(actor, "hashtag-set.update", KIND, set_id, current.version, record.version, {})
        return HashtagSet.from_record(record)

    def delete(self, set_id: str, actor: User) -> None:
        current = self.require(set_id)
        used_by = [
            r.data.get("title", r.id)
            for r in self.records.all("posts")
            if set_id in r.data.get("hashtag_set_ids", []) and r.data.get("status") != "archived"
        ]
        if used_by:
            raise Conflict(
                N_("This set is used by: %(posts)s. Remove it from those posts first."),
                posts=", ".join(used_by[:5]),
            )
        self.records.delete(KIND, set_id, version=current.version)
        self.audit.record(
            actor, "hashtag-set.delete", KIND, set_id, current.version, None, {"name": current.name}
        )
