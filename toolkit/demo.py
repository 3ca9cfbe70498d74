"""Demo content for `make run`: people, and (as features land) imagery, posts and a policy."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from toolkit.assets_demo import seed as seed_assets
from toolkit.brand import seed as seed_brand
from toolkit.errors import Conflict
from toolkit.paths import DEMO
from toolkit.policy import seed as seed_policy
from toolkit.portal import Portal
from toolkit.records import Record
from toolkit.sharing import seed as seed_sharing

log = logging.getLogger(__name__)

MARKER_KIND = "settings"
MARKER_ID = "demo-seeded"

DEMO_PEOPLE = [
    {
        "email": "marketing@example.com",
        "role": "marketing",
        "name": "Sanne de Vries",
        "first_name": "Sanne",
        "job_title": "Brand manager",
        "team": "Marketing",
        "language": "nl",
    },
    {
        "email": "employee@example.com",
        "role": "employee",
        "name": "Daan Jansen",
        "first_name": "Daan",
        "job_title": "Software engineer",
        "team": "Platform",
        "language": "en",
    },
]


def is_seeded(portal: Portal) -> bool:
    return portal.records.get(MARKER_KIND, MARKER_ID) is not None


def seed_demo(portal: Portal) -> bool:
    """Add the demo content once; returns False when it was there already."""
    if is_seeded(portal):
        return False
    for person in DEMO_PEOPLE:
        details: dict[str, Any] = dict(person)
        if portal.accounts.by_email(details["email"]) is None:
            portal.accounts.add(
                details.pop("email"), role=details.pop("role"), name=details.pop("name"), **details
            )
    for step in SEED_STEPS:
        step(portal)
    try:
        portal.records.create(MARKER_KIND, MARKER_ID, {"seeded": True})
    except Conflict:
        pass
    return True


def demo_people(portal: Portal) -> list[Record]:
    found = []
    for person in DEMO_PEOPLE:
        user = portal.accounts.by_email(person["email"])
        if user is not None and user.active:
            found.append(portal.records.require("users", user.id))
    return found


def seed_posts(portal: Portal) -> None:
    """Hashtag sets and approved example posts in English and Dutch, using the demo imagery."""
    content = json.loads((DEMO / "posts.json").read_text(encoding="utf-8"))
    author = portal.accounts.by_email(DEMO_PEOPLE[0]["email"])
    assert author is not None
    sets = {item["key"]: portal.hashtag_sets.create(item, author).id for item in content["hashtag_sets"]}
    images = [r for r in portal.records.all("assets") if r.data.get("status") == "approved"]
    for item in content["posts"]:
        values = {k: v for k, v in item.items() if k not in ("sets", "image")}
        values["hashtag_set_ids"] = [sets[key] for key in item["sets"]]
        # The demo imagery is matched by tag, so each post gets a picture that fits it.
        fitting = [r.id for r in images if item["image"] in r.data.get("tags", [])]
        if fitting:
            values["asset_id"] = fitting[0]
        post = portal.posts.create(values, author)
        portal.posts.approve(post.id, author)


# Features add their own demo content here, in order: imagery first, posts last.
SEED_STEPS: list[Callable[[Portal], None]] = [seed_assets, seed_posts]
SEED_STEPS.append(seed_policy)  # the policy needs only the demo people
SEED_STEPS.append(seed_brand)  # the demo logo as watermark; needs the imagery
SEED_STEPS.append(seed_sharing)  # demo-labelled uses, a share link and clicks; needs the posts
