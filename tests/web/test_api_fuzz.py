"""schemathesis against a running portal: no 5xx, and every answer as /api/v1/openapi.json says.

A real portal (uvicorn on loopback, a store in a temporary folder) is seeded with people, an
approved image, a hashtag set, a live post and a share link, then fuzzed once with a marketing
token and once with an employee token, each on a fresh portal so one run's writes (archiving the
image, deleting the set) cannot hide anything from the other. Generated ids are half the time
swapped for the seeded ones, so operations reach real records and not only their 404.

Nothing is excluded: crisis mode (the one switch that would lock every later call) is admin-only,
and neither token may flip it (403, which the document promises).

Bounded and deterministic: a fixed seed, derandomised generation, no example database, and a
small number of examples per operation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.engine import events, from_schema

from tests.browser.conftest import LiveServer
from toolkit.assets import UploadedFile
from toolkit.settings import Settings

MAX_EXAMPLES = 12
SEED = 20240917


@dataclass
class Seeded:
    server: LiveServer
    tokens: dict[str, str]
    ids: dict[str, str]


def _photo(path: Path) -> UploadedFile:
    """A small JPEG with some structure, so crops and thumbnails have something to work on."""
    image = Image.linear_gradient("L").resize((480, 320)).convert("RGB")
    image.paste((0, 82, 147), (300, 40, 440, 180))
    image.save(path, "JPEG", quality=85)
    data = path.read_bytes()
    return UploadedFile(path, len(data), hashlib.sha256(data).hexdigest(), "team-photo.jpg")


def seed(server: LiveServer, folder: Path) -> Seeded:
    portal = server.portal
    marketing = portal.accounts.add("marketing@example.com", role="marketing", name="Mia Marketing")
    employee = portal.accounts.add(
        "employee@example.com", role="employee", name="Eddie Employee", job_title="Engineer", team="R&D"
    )
    tokens = {
        "marketing": portal.accounts.create_token(marketing, "fuzz").secret,
        "employee": portal.accounts.create_token(employee, "fuzz").secret,
    }
    asset, _ = portal.assets.add_upload(_photo(folder / "photo.jpg"), actor=marketing, title="Team day")
    portal.assets.update(
        asset.id,
        {"status": "approved", "alt_text": "The team on the roof", "focal": [0.6, 0.3], "tags": ["team"]},
        actor=marketing,
    )
    hashtags = portal.hashtag_sets.create(
        {"name": "Employer brand", "hashtags": ["#WeAreHiring", "#LifeAtExample"]}, marketing
    )
    post = portal.posts.create(
        {
            "title": "Our team day",
            "campaign": "Employer brand",
            "variants": [
                {"language": "en", "tone": "warm", "text": "Proud of my team in {team}, {first_name}."},
                {"language": "nl", "tone": "warm", "text": "Trots op mijn team!"},
            ],
            "hashtag_set_ids": [hashtags.id],
            "asset_id": asset.id,
            "headline": "A day together",
            "link": "https://example.com/jobs",
        },
        marketing,
    )
    post = portal.posts.approve(post.id, marketing)
    link = portal.sharing.link_for(post, employee)
    portal.posts.record_use(post, employee, "copy", post.variants[0].id)
    portal.counters.flush()
    ids = {
        "asset_id": asset.id,
        "post_id": post.id,
        "set_id": hashtags.id,
        "user_id": employee.id,
        "token": link.token,
    }
    return Seeded(server, tokens, ids)


CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


def fuzz(seeded: Seeded, role: str) -> list[str]:
    """Run schemathesis's engine (what its CLI runs) against the portal; the problems it found."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": {"Authorization": f"Bearer {seeded.tokens[role]}"},
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{seeded.server.url}/api/v1/openapi.json", config=config)

    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        real = {name: seeded.ids.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, real])

    schema.hooks.register_hook_with_name(flatmap_path_parameters, "flatmap_path_parameters")
    problems: dict[str, str] = {}
    scenarios = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            import collections, os
            if os.environ.get("FUZZ_DEBUG"):
                codes = collections.Counter(i.response.status_code for i in event.recorder.interactions.values() if i.response)
                print("DEBUG", event.phase, event.recorder.label, dict(codes))
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        key = f"{failure.operation}: {failure.title}"
                        problems.setdefault(
                            key, f"{key}\n{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.setdefault(f"{event.label}: {event.info}", f"{event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            problems.setdefault(repr(event.exception), f"schemathesis stopped: {event.exception!r}")
    assert scenarios > 0, "schemathesis ran no scenario"
    return list(problems.values())


@pytest.mark.parametrize("role", ["employee", "marketing"])
def test_api_answers_as_documented(role: str, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {}, store=str(tmp_path / "data"), secret_key="fuzz-test-" + "z" * 24, refresh_seconds=1
    )
    server = LiveServer(settings)
    server.start()
    try:
        problems = fuzz(seed(server, tmp_path), role)
    finally:
        server.stop()
    assert not problems, f"{len(problems)} problems:\n\n" + "\n\n".join(problems)
