"""Input that once made the API answer 500 (found by fuzzing it against its OpenAPI document):
each is now refused with a 4xx in the one error shape, or answered, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Site

POST = {"title": "Launch", "variants": [{"text": "We launched."}]}


def test_profile_refuses_values_that_are_not_text(site: Site) -> None:
    token = site.token_for("employee")
    for body in ({"name": 1.5e16}, {"team": ["R&D"]}, {"leaderboard_opt_out": "yes"}):
        response = site.client.patch("/api/v1/me", json=body, headers=token)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid"
    me = site.client.get("/api/v1/me", headers=token).json()
    assert me["name"] == "Employee" and me["team"] == "" and me["leaderboard_opt_out"] is False


def test_hashtag_set_refuses_hashtags_that_are_not_text(site: Site) -> None:
    token = site.token_for("marketing")
    response = site.client.post(
        "/api/v1/hashtag-sets", json={"name": "Brand", "hashtags": [None, None]}, headers=token
    )
    assert response.status_code == 422
    assert site.portal.hashtag_sets.all() == []


@pytest.mark.parametrize(
    "change",
    [
        {"extra_hashtags": 5},
        {"hashtag_set_ids": 5},
        {"hashtag_set_ids": "abc"},
        {"valid_from": "0001-01-01T00:00:00+01:00"},
        {"valid_until": "9999-12-31T23:59:59-01:00"},
        {"link": "http://[::1"},
    ],
)
def test_post_refuses_malformed_fields(site: Site, change: dict[str, Any]) -> None:
    token = site.token_for("marketing")
    response = site.client.post("/api/v1/posts", json=POST | change, headers=token)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert site.portal.posts.all() == []


def test_asset_search_refuses_digits_that_are_not_ascii(site: Site) -> None:
    response = site.client.get("/api/v1/assets?page=%C2%B2", headers=site.token_for("employee"))
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("query", "period"),
    [
        ("to=0001-01-05", ("0001-01-01", "0001-01-05")),
        ("from=9999-12-30", ("9999-12-30", "9999-12-31")),
        ("from=9999-01-01&to=9999-12-31", ("9999-01-01", "9999-12-31")),
    ],
)
def test_stats_periods_at_the_ends_of_the_calendar(site: Site, query: str, period: tuple[str, str]) -> None:
    mine = site.client.get(f"/api/v1/me/stats?{query}", headers=site.token_for("employee"))
    assert mine.status_code == 200
    assert (mine.json()["from"], mine.json()["to"]) == period
    report = site.client.get(f"/api/v1/stats/posts?{query}", headers=site.token_for("marketing"))
    assert report.status_code == 200
    assert report.json()["days"][-1]["day"] == period[1]


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "\\ud800"}',  # a lone surrogate: valid JSON syntax, not storable as UTF-8
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser's recursion limit
    ],
)
def test_json_bodies_that_parse_but_cannot_be_used_are_bad_requests(site: Site, body: str) -> None:
    token = site.token_for("employee")
    response = site.client.patch(
        "/api/v1/me", content=body, headers=token | {"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert site.client.get("/api/v1/me", headers=token).json()["name"] == "Employee"


def test_non_text_title_or_name_is_refused_not_stringified(site: Site) -> None:
    marketing = site.token_for("marketing")
    made = site.browser().post(
        "/api/v1/hashtag-sets", json={"name": ["a"], "hashtags": ["x"]}, headers=marketing
    )
    assert made.status_code == 422 and "name" in made.json()["error"]["message"]
    post = site.browser().post(
        "/api/v1/posts",
        headers=marketing,
        json={"title": "Fine", "campaign": {"x": 1}, "variants": [{"language": "en", "text": "Hi"}]},
    )
    assert post.status_code == 422 and "campaign" in post.json()["error"]["message"]
    assert site.portal.records.all("hashtag-sets") == [] and site.portal.records.all("posts") == []
