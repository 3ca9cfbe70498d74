"""schemathesis against a running portal: no 5xx, and every answer as /api/v1/openapi.json says.

A real portal (uvicorn on loopback, a store in a temporary folder) is seeded with people, an
approved image, a hashtag set, a live post and a share link, then fuzzed once with a marketing
token and once with an employee token, each on a fresh portal so one run's writes (archiving the
image, deleting the set) cannot hide anything from the other. Generated ids are half the time
swapped for the seeded ones, so operations reach real records and not only their 404.

Nothing is excluded: crisis mode (the one switch that would lock every later call) is admin-only,
and neither token may flip it (403, which the document promises).

It runs schemathesis's engine, the one its CLI runs (examples, coverage and fuzzing phases), and
reports every failed check: its pytest plugin (schemathesis.pytest.from_fixture) does not work
with pytest 9. Bounded and deterministic: a fixed seed, derandomised generation, no example
database, and a small number of fuzzed examples per operation (the coverage phase's cases are
fixed by the document).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis import Case
from schemathesis.engine import events, from_schema
from schemathesis.generation.meta import CoveragePhaseData

from tests.browser.conftest import LiveServer
from toolkit.assets import UploadedFile
from toolkit.settings import Settings

# Per operation and phase; TOOLKIT_FUZZ_EXAMPLES=200 makes a deeper hunt when changing the API.
MAX_EXAMPLES = int(os.environ.get("TOOLKIT_FUZZ_EXAMPLES", "12"))
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


IF_MATCH = "if-match"
# Query parameters that name an asset (brand previews), and the seeded id each gets.
REAL_QUERY = {"asset": "asset_id", "watermark_asset_id": "asset_id"}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# Operations that must have answered 2xx at least once, so a run that only ever met 404s and
# 422s (say the seeded ids stopped reaching the fuzzer) fails instead of passing vacuously.
MUST_SUCCEED = {
    "employee": {
        "GET /api/v1/assets/{asset_id}/render",
        "GET /api/v1/posts/{post_id}/copy",
        "POST /api/v1/posts/{post_id}/compose",
        "GET /api/v1/posts/{post_id}/kit.zip",
        "PATCH /api/v1/me",
    },
    "marketing": {
        "PATCH /api/v1/assets/{asset_id}",
        "GET /api/v1/brand/preview",
        "PATCH /api/v1/posts/{post_id}",
        "POST /api/v1/posts",
        "GET /api/v1/stats/posts",
    },
}


@dataclass
class Outcome:
    problems: list[str]
    succeeded: set[str]


def _without_if_match(headers: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in headers.items() if name.lower() != IF_MATCH}


def _hooks(seeded: Seeded) -> list[Callable[..., Any]]:
    """Hooks that steer generated cases towards the seeded records."""

    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        real = {name: seeded.ids.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, real])

    def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
        if not query or not set(query) & set(REAL_QUERY):
            return st.just(query)
        real = {name: seeded.ids[REAL_QUERY[name]] if name in REAL_QUERY else v for name, v in query.items()}
        return st.sampled_from([query, real])

    def flatmap_headers(context: Any, headers: dict[str, Any] | None) -> Any:
        # A generated If-Match is never the current version, so every edit carrying one ends in
        # 412 before its body is looked at; half the cases go without it and reach the body.
        if not headers or IF_MATCH not in {name.lower() for name in headers}:
            return st.just(headers)
        return st.sampled_from([_without_if_match(headers), headers])

    def map_case(context: Any, case: Case[Any]) -> Case[Any]:
        # The coverage phase varies one parameter at a time and runs no flatmap hooks: give the
        # others a real id and no If-Match, so the varied one is what the answer is about.
        data = case.meta.phase.data if case.meta is not None else None
        if not isinstance(data, CoveragePhaseData):
            return case
        target = (data.parameter or "").lower()
        if case.query:
            for name, kind in REAL_QUERY.items():
                if name in case.query and name != target:
                    case.query[name] = seeded.ids[kind]
        body = case.body
        if (
            isinstance(body, dict)
            and body.get("valid_from")
            and body["valid_from"] == body.get("valid_until")
        ):
            # Its base cases give a post the same start and end, which the API refuses (422)
            # before it looks at the property being varied.
            body["valid_until"] = None
        if case.headers and target != IF_MATCH:
            for name in [name for name in case.headers if name.lower() == IF_MATCH]:
                del case.headers[name]
        return case

    return [flatmap_path_parameters, flatmap_query, flatmap_headers, map_case]


def fuzz(seeded: Seeded, role: str) -> Outcome:
    """Run schemathesis's engine (what its CLI runs) against the portal with this role's token."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": {"Authorization": f"Bearer {seeded.tokens[role]}"},
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Examples (none in the document), coverage (boundaries and wrong types, one parameter
            # at a time) and fuzzing; no stateful phase: its chains would need far more examples.
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{seeded.server.url}/api/v1/openapi.json", config=config)
    for hook in _hooks(seeded):
        schema.hooks.register_hook_with_name(hook, hook.__name__)
    problems: dict[str, str] = {}
    succeeded: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            if any(
                i.response and 200 <= i.response.status_code < 300 for i in recorder.interactions.values()
            ):
                succeeded.add(recorder.label)
            for checks in recorder.checks.values():
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
    return Outcome(list(problems.values()), succeeded)


@pytest.mark.parametrize("role", ["employee", "marketing"])
def test_api_answers_as_documented(role: str, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {}, store=str(tmp_path / "data"), secret_key="fuzz-test-" + "z" * 24, refresh_seconds=1
    )
    server = LiveServer(settings)
    server.start()
    try:
        outcome = fuzz(seed(server, tmp_path), role)
    finally:
        server.stop()
    assert not outcome.problems, f"{len(outcome.problems)} problems:\n\n" + "\n\n".join(outcome.problems)
    assert MUST_SUCCEED[role] <= outcome.succeeded, MUST_SUCCEED[role] - outcome.succeeded
