"""What each /api/v1 operation takes and answers, for the OpenAPI document (toolkit.web.api.openapi)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.asset_fields import STATUSES as ASSET_STATUSES
from toolkit.brand import COLOUR_FIELDS, RANGES
from toolkit.imaging.master import THUMB_WIDTHS
from toolkit.imaging.presets import DEFAULT_PRESET, PRESETS
from toolkit.imaging.render import FORMATS, WATERMARK_POSITIONS
from toolkit.posts import LANGUAGES as POST_LANGUAGES
from toolkit.posts import STATUSES as POST_STATUSES
from toolkit.web.api.schemas import BINARY, DATE, TEXT, Schema, array, ref, string
from toolkit.web.idempotency import MAX_KEY_LENGTH

ID: Schema = string(pattern="^[A-Za-z0-9_-]+$", minLength=1)
PATH_PARAMETERS: dict[str, tuple[str, Schema]] = {
    "asset_id": ("The image's id.", ID),
    "post_id": ("The post's id.", ID),
    "set_id": ("The hashtag set's id.", ID),
    "user_id": ("The person's id.", ID),
    "token": (
        "The share link's token (the last part of its /s/ address).",
        string(pattern="^[A-Za-z0-9_-]+$"),
    ),
}
FLAG_VALUES = ["1", "0", "true", "false", "yes", "no"]
IMAGE_FORMATS = [*FORMATS, "jpg"]


def query(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": TEXT}


IF_MATCH = header(
    "If-Match", "The strong ETag of the version you edited; 412 when it is no longer the current one."
)
IF_NONE_MATCH = header("If-None-Match", "ETags you hold; 304 without a body when one is current.")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A key you choose (a UUID, say) to retry this create safely: within 24 hours the same key "
        "with the same body returns the first answer (status, body, ETag, Location, with "
        "Idempotent-Replayed: true) without doing it again. The same key with another body is 422 "
        "(idempotency_key_reused); while the first request with it still runs, 409 "
        "(idempotency_key_in_use). Keys are per person."
    ),
    "schema": string(minLength=1, maxLength=MAX_KEY_LENGTH),
}
PERIOD = (
    query("from", DATE, "First day (YYYY-MM-DD); by default 30 days before 'to'."),
    query("to", DATE, "Last day (YYYY-MM-DD); by default today. At most 366 days in all."),
)
PRESET = query("preset", string(enum=list(PRESETS)), f"Image size; {DEFAULT_PRESET} by default.")
FORMAT = query("format", string(enum=IMAGE_FORMATS), "Image format; jpeg by default.")
WATERMARK = query(
    "watermark", string(enum=FLAG_VALUES), "Put the brand's logo on it (1, the default) or not."
)
VARIANT = query("variant", TEXT, "The caption variant's id; the first one in the language otherwise.")
LANG = query("lang", string(enum=list(POST_LANGUAGES)), "Prefer a variant in this language.")
SURPRISE = query("surprise", string(enum=["1", "0"]), "1: the variant the fewest colleagues have used.")

# Responses

ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The body is not valid JSON, not a JSON object, or not valid multipart."),
    401: ("Unauthorized", "No credentials, or the bearer token is not valid or was revoked."),
    403: (
        "Forbidden",
        "Your role may not do this, or a browser-session write came without the CSRF header.",
    ),
    404: ("NotFound", "No such thing, or you may not see it (drafts are not found for employees)."),
    409: ("Conflict", "Someone changed it in the meantime, or its state does not allow this."),
    412: ("PreconditionFailed", "If-Match does not name the current version (or is weak or a list)."),
    413: ("TooLarge", "The upload is larger than the limit."),
    415: ("UnsupportedMedia", "The file is not a supported image type."),
    422: ("Invalid", "A value is not valid; the message names it."),
    423: ("Locked", "Crisis mode is on: sharing is paused. error.crisis tells what to do."),
    503: ("Unavailable", "The store is not reachable; try again in a moment."),
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": 'Bearer realm="toolkit"', "schema": TEXT}},
    503: {"Retry-After": {"description": "Seconds to wait.", "schema": TEXT}},
}
ETAG = {"ETag": {"description": "The version shown, for If-Match.", "schema": TEXT}}


def as_json(schema_name: str, description: str, *, versioned: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }
    if versioned:
        answer["headers"] = ETAG
    return answer


def ok(schema_name: str, description: str, *, versioned: bool = False) -> dict[str, Any]:
    return {"200": as_json(schema_name, description, versioned=versioned)}


def binary(description: str, media_types: Sequence[str], *, cached: bool = False) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "200": {
            "description": description,
            "content": {media_type: {"schema": BINARY} for media_type in media_types},
        }
    }
    if cached:
        answers["304"] = {"description": "Not modified: the ETag you sent is current."}
    return answers


NO_CONTENT = {"204": {"description": "Done; nothing to show."}}
IMAGES = [FORMATS[name] for name in FORMATS]


@dataclass(frozen=True)
class Operation:
    """What one method on one path takes and answers, besides what the route itself tells."""

    summary: str
    tag: str
    responses: Mapping[str, Any]
    errors: tuple[int, ...] = ()
    parameters: tuple[Mapping[str, Any], ...] = ()
    body: str | None = None  # a component schema sent as application/json
    body_required: bool = True
    form: str | None = None  # a component schema sent as multipart/form-data
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


OPERATIONS: dict[tuple[str, str], Operation] = {
    # Service
    ("GET", "/api/v1/health"): Operation(
        "Whether this instance and its store answer",
        "service",
        ok("Health", "The store answers."),
    ),
    ("GET", "/api/v1/openapi.json"): Operation(
        "This description of the API",
        "service",
        {
            "200": {
                "description": "An OpenAPI 3.1 document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    ),
    # People
    ("GET", "/api/v1/me"): Operation("Who you are", "people", ok("User", "Your account.", versioned=True)),
    ("PATCH", "/api/v1/me"): Operation(
        "Change your profile (names, job title, team, language, leaderboard opt-out)",
        "people",
        ok("User", "Your account as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="ProfileChanges",
    ),
    ("GET", "/api/v1/users"): Operation("Everyone with an account", "people", ok("UserList", "By e-mail.")),
    ("POST", "/api/v1/users"): Operation(
        "Add a person and make their invitation link",
        "people",
        {"201": as_json("Invitation", "The new account and its one-time invitation link.", versioned=True)},
        errors=(409, 422),
        body="NewUser",
    ),
    ("PATCH", "/api/v1/users/{user_id}"): Operation(
        "Change a person's role or (de)activate them",
        "people",
        ok("User", "The account as saved.", versioned=True),
        errors=(409, 422),
        body="UserChanges",
        description="Admins cannot demote or deactivate themselves (403).",
    ),
    # Assets
    ("GET", "/api/v1/assets"): Operation(
        "Search the image library",
        "assets",
        ok("AssetList", "Newest first; employees get only images they may share today."),
        errors=(422, 423),
        parameters=(
            query("q", TEXT, "Words that start a word of the title, description or tags."),
            {
                **query("tag", array(TEXT), "Only images with every one of these tags."),
                "style": "form",
                "explode": True,
            },
            query("status", string(enum=list(ASSET_STATUSES)), "Marketing only: one status."),
            query(
                "expiring", string(enum=FLAG_VALUES), "1: approved images whose rights or consent end soon."
            ),
            query("page", string(pattern="^[0-9]+$"), "Page number from 1 (at most 1000000)."),
            query("per_page", string(pattern="^[0-9]+$"), "Images per page, 1 to 200 (50 by default)."),
        ),
    ),
    ("POST", "/api/v1/assets"): Operation(
        "Upload an image",
        "assets",
        {
            "201": as_json("NewAsset", "Added as a draft; Location names it.", versioned=True),
            "200": as_json("NewAsset", "The same bytes were uploaded before: that image (duplicate: true)."),
        },
        errors=(400, 409, 413, 415, 422),
        form="Upload",
        description="The body streams to a temporary file; JPEG, PNG, WebP, GIF, TIFF and HEIC are read.",
    ),
    ("GET", "/api/v1/assets/{asset_id}"): Operation(
        "One image's details", "assets", ok("Asset", "The image.", versioned=True), errors=(423,)
    ),
    ("PATCH", "/api/v1/assets/{asset_id}"): Operation(
        "Curate an image: title, texts, tags, status, focal point, rights and consent",
        "assets",
        ok("Asset", "The image as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="AssetChanges",
    ),
    ("DELETE", "/api/v1/assets/{asset_id}"): Operation(
        "Archive an image, or with purge=1 remove an archived one for good",
        "assets",
        {
            "200": as_json("Asset", "Archived (or it already was).", versioned=True),
            **NO_CONTENT,
        },
        errors=(409,),
        parameters=(
            IF_MATCH,
            query(
                "purge", string(enum=FLAG_VALUES), "1: remove the archived image and every file made from it."
            ),
        ),
    ),
    ("GET", "/api/v1/assets/{asset_id}/thumb"): Operation(
        "A small JPEG of the image",
        "assets",
        binary("The thumbnail.", ["image/jpeg"], cached=True),
        errors=(422, 423),
        parameters=(
            query("w", {"type": "integer", "enum": list(THUMB_WIDTHS)}, "Width in pixels."),
            IF_NONE_MATCH,
        ),
    ),
    ("GET", "/api/v1/assets/{asset_id}/master"): Operation(
        "The working master: upright, sRGB, at most 2560 pixels",
        "assets",
        binary("The master image.", ["image/jpeg", "image/png"], cached=True),
        errors=(423,),
        parameters=(
            query("download", string(enum=FLAG_VALUES), "1: as an attachment."),
            IF_NONE_MATCH,
        ),
    ),
    ("GET", "/api/v1/assets/{asset_id}/original"): Operation(
        "The uploaded file exactly as it came in",
        "assets",
        binary("The original file.", ["image/*"]),
    ),
    ("GET", "/api/v1/presets"): Operation(
        "Image sizes per social network", "images", ok("PresetList", "In the order people pick them.")
    ),
    ("GET", "/api/v1/assets/{asset_id}/render"): Operation(
        "A share-ready image: cropped around the focal point, resized, watermarked",
        "images",
        binary("The image; X-Low-Resolution: 1 when the source was enlarged.", IMAGES, cached=True),
        errors=(422, 423),
        parameters=(
            PRESET,
            FORMAT,
            WATERMARK,
            query("download", string(enum=FLAG_VALUES), "1: as an attachment."),
            query("v", TEXT, "The rendition key from a versioned URL: cacheable for a year when current."),
            IF_NONE_MATCH,
        ),
    ),
    # Brand
    ("GET", "/api/v1/brand"): Operation(
        "The brand settings for share images", "brand", ok("Brand", "The settings.", versioned=True)
    ),
    ("PATCH", "/api/v1/brand"): Operation(
        "Change the brand settings",
        "brand",
        ok("Brand", "The settings as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="BrandChanges",
    ),
    ("GET", "/api/v1/brand/preview"): Operation(
        "An image with unsaved brand settings (never stored)",
        "brand",
        binary("The preview image.", IMAGES),
        errors=(404, 422),
        parameters=(
            query("asset", ID, "The image to preview on.", required=True),
            PRESET,
            FORMAT,
            WATERMARK,
            query("sample", string(enum=["1", "0"]), "1: with a sample headline."),
            *(query(name, TEXT, "A colour like #005293.") for name in COLOUR_FIELDS),
            query("watermark_asset_id", TEXT, "An approved image to use as the logo."),
            query("watermark_position", string(enum=list(WATERMARK_POSITIONS)), "Where the logo goes."),
            *(
                query(name, {"type": "number", "minimum": low * 100, "maximum": high * 100}, "Per cent.")
                for name, (low, high) in RANGES.items()
            ),
        ),
    ),
    # Crisis
    ("GET", "/api/v1/settings/crisis"): Operation(
        "Whether crisis mode is on, and its message", "crisis", ok("Crisis", "The switch.", versioned=True)
    ),
    ("PUT", "/api/v1/settings/crisis"): Operation(
        "Turn crisis mode on or off, or change its message",
        "crisis",
        ok("Crisis", "The switch as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="CrisisChange",
        description="null or a missing text keeps what was there.",
    ),
    # Posts
    ("GET", "/api/v1/posts"): Operation(
        "Example posts: every post for marketing, the live feed for employees",
        "posts",
        ok("PostList", "Posts, newest first."),
        errors=(423,),
        parameters=(
            query("view", string(enum=["feed"]), "Marketing: 'feed' shows what employees see."),
            query("status", string(enum=list(POST_STATUSES)), "Marketing: one status."),
            query("campaign", TEXT, "One campaign."),
            query("lang", string(enum=list(POST_LANGUAGES)), "Feed: posts with a variant in this language."),
        ),
    ),
    ("POST", "/api/v1/posts"): Operation(
        "Write a post (a draft)",
        "posts",
        {"201": as_json("Post", "The new draft.", versioned=True)},
        errors=(404, 422),
        body="PostInput",
    ),
    ("POST", "/api/v1/posts/preview"): Operation(
        "Preview an unsaved post: each variant composed for you, with lint warnings",
        "posts",
        ok("CompositionList", "One composition per variant."),
        errors=(404, 422),
        body="PostInput",
    ),
    ("GET", "/api/v1/posts/{post_id}"): Operation(
        "One post", "posts", ok("Post", "The post.", versioned=True), errors=(423,)
    ),
    ("PATCH", "/api/v1/posts/{post_id}"): Operation(
        "Edit a post (a live post stays live)",
        "posts",
        ok("Post", "The post as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="PostChanges",
    ),
    ("DELETE", "/api/v1/posts/{post_id}"): Operation(
        "Delete a draft or archived post", "posts", NO_CONTENT, errors=(409,), parameters=(IF_MATCH,)
    ),
    ("POST", "/api/v1/posts/{post_id}/approve"): Operation(
        "Approve a post: it goes live in its validity window",
        "posts",
        ok("Post", "The approved post.", versioned=True),
        errors=(409, 422),
        body="Approval",
        body_required=False,
        description="A post whose image is not approved is refused (422, naming the image) unless "
        "approve_image is true, which approves the image in the same step.",
    ),
    ("POST", "/api/v1/posts/{post_id}/archive"): Operation(
        "Archive a post: it leaves the feed",
        "posts",
        ok("Post", "The archived post.", versioned=True),
        errors=(409,),
    ),
    ("GET", "/api/v1/posts/{post_id}/copy"): Operation(
        "The text to paste, made yours (counts as a use)",
        "composer",
        ok("Composition", "Placeholders filled, hashtags and link added."),
        errors=(423,),
        parameters=(VARIANT, LANG, SURPRISE),
    ),
    ("POST", "/api/v1/posts/{post_id}/compose"): Operation(
        "Preview your own edit of the text (no use counted)",
        "composer",
        ok("Composition", "The composed text and its warnings."),
        errors=(422, 423),
        body="CompositionRequest",
    ),
    ("POST", "/api/v1/posts/{post_id}/uses"): Operation(
        "Count a use (copy, download or kit) made elsewhere",
        "composer",
        NO_CONTENT,
        errors=(422, 423),
        body="Use",
    ),
    ("GET", "/api/v1/posts/{post_id}/image"): Operation(
        "The post's share-ready image (counts as a download)",
        "composer",
        binary("The image as an attachment.", IMAGES),
        errors=(422, 423),
        parameters=(
            query("format", string(enum=list(FORMATS)), "Image format; jpeg by default."),
            VARIANT,
        ),
    ),
    ("GET", "/api/v1/posts/{post_id}/preview.jpg"): Operation(
        "The post's share image as the composer previews it (not counted as a use)",
        "composer",
        binary("The JPEG, with a strong ETag.", ["image/jpeg"], cached=True),
        errors=(422, 423),
        parameters=(IF_NONE_MATCH,),
    ),
    ("GET", "/api/v1/posts/{post_id}/kit.zip"): Operation(
        "A ZIP with the text, the alt text and the image (counts as a kit)",
        "composer",
        binary("The kit.", ["application/zip"]),
        errors=(423,),
        parameters=(VARIANT, LANG, SURPRISE),
    ),
    # Hashtag sets
    ("GET", "/api/v1/hashtag-sets"): Operation(
        "Curated hashtag sets", "hashtag sets", ok("HashtagSetList", "By name.")
    ),
    ("POST", "/api/v1/hashtag-sets"): Operation(
        "Add a hashtag set",
        "hashtag sets",
        {"201": as_json("HashtagSet", "The new set.", versioned=True)},
        errors=(409, 422),
        body="HashtagSetInput",
    ),
    ("GET", "/api/v1/hashtag-sets/{set_id}"): Operation(
        "One hashtag set", "hashtag sets", ok("HashtagSet", "The set.", versioned=True)
    ),
    ("PATCH", "/api/v1/hashtag-sets/{set_id}"): Operation(
        "Change a hashtag set",
        "hashtag sets",
        ok("HashtagSet", "The set as saved.", versioned=True),
        errors=(409, 422),
        parameters=(IF_MATCH,),
        body="HashtagSetChanges",
    ),
    ("DELETE", "/api/v1/hashtag-sets/{set_id}"): Operation(
        "Delete a hashtag set no live post uses", "hashtag sets", NO_CONTENT, errors=(409,)
    ),
    # Sharing
    ("POST", "/api/v1/posts/{post_id}/share-link"): Operation(
        "Your own tracked link to a post (made on first request)",
        "sharing",
        ok("ShareLink", "The link.", versioned=True),
        errors=(409, 422, 423),
    ),
    ("DELETE", "/api/v1/share-links/{token}"): Operation(
        "Stop a share link working (yours, or any for marketing)", "sharing", NO_CONTENT, errors=(409,)
    ),
    ("GET", "/api/v1/me/stats"): Operation(
        "Your own sharing numbers, and the leaderboard while it is on",
        "sharing",
        ok("MyStats", "Your numbers in the period."),
        errors=(422,),
        parameters=PERIOD,
    ),
    # Statistics
    ("GET", "/api/v1/stats/posts"): Operation(
        "Post statistics: per post, campaign and day, participation, top and unused posts",
        "statistics",
        ok("PostStats", "The report for the period."),
        errors=(422,),
        parameters=PERIOD,
    ),
    ("GET", "/api/v1/stats/posts.csv"): Operation(
        "The per-post table as CSV",
        "statistics",
        {
            "200": {
                "description": "UTF-8, comma separated, with a header row.",
                "content": {"text/csv": {"schema": TEXT}},
            }
        },
        errors=(422,),
        parameters=PERIOD,
    ),
    ("GET", "/api/v1/stats/leaderboard"): Operation(
        "The leaderboard by clicks on share links (empty while off)",
        "statistics",
        ok("Leaderboard", "People who did not opt out, most clicks first."),
        errors=(422,),
        parameters=PERIOD,
    ),
    ("PUT", "/api/v1/stats/leaderboard"): Operation(
        "Switch the leaderboard on or off",
        "statistics",
        ok("LeaderboardSwitch", "Whether it is on now."),
        errors=(409, 422),
        body="LeaderboardSwitch",
    ),
}


# Building
