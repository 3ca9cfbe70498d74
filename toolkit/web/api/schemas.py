"""The JSON shapes of the API as OpenAPI 3.1 schemas, by name (components/schemas)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from toolkit.accounts import Role
from toolkit.asset_fields import STATUSES as ASSET_STATUSES
from toolkit.brand import COLOUR_FIELDS, RANGES
from toolkit.counters import USE_METRICS
from toolkit.i18n import LANGUAGES
from toolkit.imaging.master import THUMB_WIDTHS
from toolkit.imaging.presets import PRESETS
from toolkit.imaging.render import WATERMARK_POSITIONS
from toolkit.posts import CHANNELS, MAX_TEXT, MAX_VARIANTS
from toolkit.posts import LANGUAGES as POST_LANGUAGES
from toolkit.posts import STATUSES as POST_STATUSES

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def string(**constraints: Any) -> Schema:
    return {"type": "string", **constraints}


def nullable(kind: str, **constraints: Any) -> Schema:
    return {"type": [kind, "null"], **constraints}


def array(items: Schema, **constraints: Any) -> Schema:
    return {"type": "array", "items": items, **constraints}


def obj(
    properties: Mapping[str, Schema], *, required: Iterable[str] | None = None, open: bool = False
) -> Schema:
    """An object; every property is required unless told otherwise, unknown ones refused unless open."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties if required is None else required),
        "additionalProperties": open,
    }


INTEGER: Schema = {"type": "integer"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
TEXT: Schema = string()
DATE: Schema = string(format="date")
BINARY: Schema = string(format="binary")
TIMESTAMP: Schema = string(description="ISO 8601 date and time in UTC, empty when unknown")
ROLES = [role.name for role in Role]

USER_FIELDS: dict[str, Schema] = {
    "id": TEXT,
    "email": TEXT,
    "name": TEXT,
    "first_name": TEXT,
    "job_title": TEXT,
    "team": TEXT,
    "language": string(description="en, nl, or empty for the browser's choice"),
    "role": string(enum=ROLES),
    "active": BOOLEAN,
    "leaderboard_opt_out": BOOLEAN,
    "created_at": TIMESTAMP,
    "version": TEXT,
    "has_password": BOOLEAN,
}

ASSET_FIELDS: dict[str, Schema] = {
    "id": TEXT,
    "version": TEXT,
    "title": TEXT,
    "description": TEXT,
    "alt_text": TEXT,
    "tags": array(TEXT),
    "status": string(enum=list(ASSET_STATUSES)),
    "focal": nullable("array", items=NUMBER, minItems=2, maxItems=2, description="[x, y] from 0 to 1"),
    "source": TEXT,
    "licence": TEXT,
    "rights_expires": nullable("string", format="date"),
    "shows_people": BOOLEAN,
    "consent_expires": nullable("string", format="date"),
    "width": COUNT,
    "height": COUNT,
    "content_type": string(description="media type of the original upload"),
    "bytes": COUNT,
    "sha256": TEXT,
    "master_type": string(enum=["image/jpeg", "image/png"]),
    "master_width": COUNT,
    "master_height": COUNT,
    "created_at": TIMESTAMP,
    "created_by": TEXT,
    "updated_at": TIMESTAMP,
    "usable": {**BOOLEAN, "description": "employees may see and share it today"},
    "expires": nullable("string", format="date", description="first day employees no longer get it"),
    "thumbnails": obj({str(width): TEXT for width in THUMB_WIDTHS}),
    "master_url": TEXT,
}

POST_FIELDS: dict[str, Schema] = {
    "id": TEXT,
    "version": TEXT,
    "title": TEXT,
    "campaign": TEXT,
    "variants": array(ref("Variant")),
    "hashtag_set_ids": array(TEXT),
    "extra_hashtags": array(TEXT),
    "asset_id": nullable("string"),
    "preset": string(enum=list(PRESETS)),
    "headline": TEXT,
    "link": TEXT,
    "valid_from": nullable("string", format="date-time"),
    "valid_until": nullable("string", format="date-time"),
    "channel": string(enum=list(CHANNELS)),
    "status": string(enum=list(POST_STATUSES)),
    "created_at": TIMESTAMP,
    "created_by": TEXT,
    "updated_at": TIMESTAMP,
    "approved_at": nullable("string", format="date-time"),
    "hashtags": array(TEXT, description="the post's sets in order, then its extras, each once"),
}

POST_INPUT_FIELDS: dict[str, Schema] = {
    "title": string(minLength=1, maxLength=200),
    "campaign": string(maxLength=120),
    "variants": array(
        obj(
            {
                "id": string(maxLength=40),
                "language": string(enum=list(POST_LANGUAGES)),
                "tone": string(maxLength=40),
                "text": string(minLength=1, maxLength=MAX_TEXT),
            },
            required=["text"],
            open=True,
        ),
        minItems=1,
        maxItems=MAX_VARIANTS,
    ),
    "hashtag_set_ids": array(TEXT),
    "extra_hashtags": {
        "oneOf": [array(TEXT), string(description="comma- or newline-separated")],
    },
    "asset_id": nullable("string"),
    "preset": string(enum=list(PRESETS)),
    "headline": string(maxLength=140),
    "link": string(description="a full http(s) address, or empty"),
    "valid_from": nullable("string", format="date-time"),
    "valid_until": nullable("string", format="date-time"),
    "channel": string(enum=list(CHANNELS)),
}

HASHTAG_SET_INPUT: dict[str, Schema] = {
    "name": string(minLength=1, maxLength=120),
    "description": string(maxLength=500),
    "hashtags": {"oneOf": [array(TEXT), string(description="comma- or newline-separated")]},
}

TALLY_FIELDS: dict[str, Schema] = {
    "uses": obj({"copy": COUNT, "download": COUNT, "kit": COUNT, "total": COUNT}),
    "share_links": COUNT,
    "clicks": COUNT,
    "unique_sharers": COUNT,
}
POST_ROW = obj(
    {
        "id": TEXT,
        "title": TEXT,
        "campaign": TEXT,
        "status": string(enum=[*POST_STATUSES, "deleted"]),
        "live": BOOLEAN,
        **TALLY_FIELDS,
    }
)
SHARE_LINK_FIELDS: dict[str, Schema] = {
    "url": TEXT,
    "token": TEXT,
    "post_id": TEXT,
    "created_at": TIMESTAMP,
    "revoked": BOOLEAN,
}
PERIOD_FIELDS: dict[str, Schema] = {"from": DATE, "to": DATE}

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {"code": TEXT, "message": string(description="in the language of the request")},
                open=True,
            )
        },
        open=True,
    ),
    "Health": obj({"status": string(enum=["ok"])}),
    "User": obj(USER_FIELDS),
    "UserList": obj({"items": array(ref("User"))}),
    "Invitation": obj(USER_FIELDS | {"invite_url": TEXT, "invite_expires_at": string(format="date-time")}),
    "ProfileChanges": obj(
        {
            "name": string(maxLength=200),
            "first_name": string(maxLength=200),
            "job_title": string(maxLength=200),
            "team": string(maxLength=200),
            "language": string(enum=["", *LANGUAGES]),
            "leaderboard_opt_out": BOOLEAN,
        },
        required=[],
    ),
    "NewUser": obj(
        {
            "email": string(format="email"),
            "role": string(enum=ROLES),
            "name": TEXT,
            "first_name": TEXT,
            "job_title": TEXT,
            "team": TEXT,
            "language": string(enum=["", *LANGUAGES]),
        },
        required=["email"],
    ),
    "UserChanges": obj({"role": string(enum=ROLES), "active": BOOLEAN}, required=[]),
    "Asset": obj(ASSET_FIELDS),
    "NewAsset": obj(ASSET_FIELDS | {"duplicate": BOOLEAN}),
    "AssetList": obj({"items": array(ref("Asset")), "total": COUNT, "page": INTEGER, "per_page": INTEGER}),
    "AssetChanges": obj(
        {
            "title": string(minLength=1, maxLength=200),
            "description": string(maxLength=4000),
            "alt_text": string(maxLength=1000),
            "tags": {
                "oneOf": [
                    array(string(maxLength=40), maxItems=30),
                    string(description="comma-separated"),
                ]
            },
            "status": string(enum=list(ASSET_STATUSES)),
            "focal": nullable(
                "array", items={"type": "number", "minimum": 0, "maximum": 1}, minItems=2, maxItems=2
            ),
            "source": string(maxLength=300),
            "licence": string(maxLength=300),
            "rights_expires": nullable("string", format="date"),
            "shows_people": BOOLEAN,
            "consent_expires": nullable("string", format="date"),
        },
        required=[],
    ),
    "Upload": obj(
        {
            "file": string(contentMediaType="application/octet-stream", description="the image file"),
            "title": string(maxLength=200),
            "tags": string(description="comma-separated"),
            "csrf_token": string(description="browser forms only; API tokens need none"),
        },
        required=["file"],
    ),
    "Preset": obj(
        {
            "name": string(enum=list(PRESETS)),
            "width": COUNT,
            "height": COUNT,
            "network": TEXT,
            "label": TEXT,
        }
    ),
    "PresetList": obj({"items": array(ref("Preset")), "default": string(enum=list(PRESETS))}),
    "Brand": obj(
        {
            **{name: string(pattern="^#[0-9a-f]{6}$") for name in COLOUR_FIELDS},
            "watermark_asset_id": TEXT,
            "watermark_position": string(enum=list(WATERMARK_POSITIONS)),
            **{name: NUMBER for name in RANGES},
            "font_name": TEXT,
            "updated_at": TIMESTAMP,
            "updated_by": TEXT,
            "has_font": BOOLEAN,
            "version": string(description="'default' until the settings are first saved"),
        }
    ),
    "BrandChanges": obj(
        {
            **{name: string(pattern="^#[0-9a-fA-F]{6}$") for name in COLOUR_FIELDS},
            "watermark_asset_id": nullable("string", description="an approved asset, or empty for none"),
            "watermark_position": string(enum=list(WATERMARK_POSITIONS)),
            **{
                name: {"type": "number", "minimum": low, "maximum": high, "description": "share of 1"}
                for name, (low, high) in RANGES.items()
            },
            "font_reset": BOOLEAN,
        },
        required=[],
    ),
    "Crisis": obj(
        {
            "active": BOOLEAN,
            "message": TEXT,
            "spokesperson": TEXT,
            "channel": string(description="a web address or the name of the official channel"),
            "since": TIMESTAMP,
        }
    ),
    "CrisisChange": obj(
        {
            "active": BOOLEAN,
            "message": nullable("string", maxLength=2000),
            "spokesperson": nullable("string", maxLength=300),
            "channel": nullable("string", maxLength=500),
        },
        required=["active"],
    ),
    "Variant": obj({"id": TEXT, "language": string(enum=list(POST_LANGUAGES)), "tone": TEXT, "text": TEXT}),
    "Post": obj(POST_FIELDS),
    "PostList": obj({"items": array(ref("Post")), "total": COUNT}),
    "PostInput": obj(POST_INPUT_FIELDS, required=["title", "variants"], open=True),
    "PostChanges": obj(POST_INPUT_FIELDS, required=[], open=True),
    "Composition": obj(
        {
            "text": TEXT,
            "variant": TEXT,
            "language": string(enum=list(POST_LANGUAGES)),
            "hashtags": array(TEXT),
            "length": COUNT,
            "fold_at": COUNT,
            "warnings": array(obj({"code": TEXT, "message": TEXT})),
            "linkedin_url": TEXT,
        }
    ),
    "CompositionList": obj({"items": array(ref("Composition"))}),
    "CompositionRequest": obj(
        {
            "text": string(maxLength=MAX_TEXT, description="the employee's edit of the caption"),
            "hashtags": array(TEXT, description="the offered hashtags to keep"),
            "variant": TEXT,
            "lang": string(enum=list(POST_LANGUAGES)),
        },
        required=[],
        open=True,
    ),
    "Approval": obj({"approve_image": BOOLEAN}, required=[]),
    "Use": obj({"action": string(enum=list(USE_METRICS)), "variant": TEXT}, required=["action"], open=True),
    "HashtagSet": obj(
        {
            "id": TEXT,
            "name": TEXT,
            "description": TEXT,
            "hashtags": array(TEXT),
            "updated_at": TIMESTAMP,
            "version": TEXT,
        }
    ),
    "HashtagSetList": obj({"items": array(ref("HashtagSet"))}),
    "HashtagSetInput": obj(HASHTAG_SET_INPUT, required=["name", "hashtags"], open=True),
    "HashtagSetChanges": obj(HASHTAG_SET_INPUT, required=[], open=True),
    "ShareLink": obj(SHARE_LINK_FIELDS),
    "MyStats": obj(
        {
            **PERIOD_FIELDS,
            **{k: v for k, v in TALLY_FIELDS.items() if k != "unique_sharers"},
            "posts": array(
                obj(
                    {
                        "post_id": TEXT,
                        "title": TEXT,
                        "live": BOOLEAN,
                        "uses": COUNT,
                        "share_links": COUNT,
                        "clicks": COUNT,
                    }
                )
            ),
            "links": array(obj(SHARE_LINK_FIELDS | {"title": TEXT})),
            "leaderboard": {
                "oneOf": [
                    {"type": "null"},
                    obj(
                        {
                            "opted_out": BOOLEAN,
                            "items": array(
                                obj({"rank": COUNT, "name": TEXT, "clicks": COUNT, "me": BOOLEAN})
                            ),
                        }
                    ),
                ],
                "description": "null while the leaderboard is off",
            },
        }
    ),
    "PostStats": obj(
        {
            **PERIOD_FIELDS,
            "posts": array(POST_ROW),
            "totals": obj({"posts_used": COUNT, **TALLY_FIELDS}),
            "campaigns": array(obj({"campaign": TEXT, "posts": COUNT, **TALLY_FIELDS})),
            "days": array(obj({"day": DATE, "uses": COUNT, "share_links": COUNT, "clicks": COUNT})),
            "participation": obj(
                {
                    "active_employees": COUNT,
                    "participants": COUNT,
                    "rate": {"type": "number", "minimum": 0, "maximum": 1},
                }
            ),
            "top_posts": array(POST_ROW),
            "unused_posts": array(obj({"id": TEXT, "title": TEXT, "campaign": TEXT})),
        }
    ),
    "Leaderboard": obj(
        {
            "enabled": BOOLEAN,
            **PERIOD_FIELDS,
            "items": array(obj({"rank": COUNT, "name": TEXT, "clicks": COUNT})),
        }
    ),
    "LeaderboardSwitch": obj({"enabled": BOOLEAN}),
}

# Parameters
