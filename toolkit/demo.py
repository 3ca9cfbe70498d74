"""Demo content for `make run`: people, and (as features land) imagery, posts and a policy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from toolkit.errors import Conflict
from toolkit.portal import Portal
from toolkit.records import Record

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


# Features add their own demo content here (imagery, posts, policy), in order.
SEED_STEPS: list[Callable[[Portal], None]] = []
