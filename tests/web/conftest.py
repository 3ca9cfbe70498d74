"""An app per test on a fresh store (both backends), and people to sign in as."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.s3server import S3Server
from toolkit.accounts import User
from toolkit.app import create_app
from toolkit.portal import Portal
from toolkit.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(store_url: str, request: pytest.FixtureRequest) -> Settings:
    endpoint = ""
    if store_url.startswith("s3://"):
        server: S3Server = request.getfixturevalue("s3_server")
        endpoint = server.url
    return Settings.from_env(
        {},
        store=store_url,
        s3_endpoint_url=endpoint,
        secret_key="test-secret-" + "x" * 20,
        refresh_seconds=0.2,
        instance_id="test-a",
    )


@dataclass
class Site:
    """One running instance and a way to act as each kind of person on it."""

    portal: Portal
    client: TestClient

    def person(self, role: str, email: str | None = None, **profile: Any) -> User:
        email = email or f"{role}@example.com"
        existing = self.portal.accounts.by_email(email)
        if existing:
            return existing
        return self.portal.accounts.add(
            email, role=role, name=profile.pop("name", role.title()), password=PASSWORD, **profile
        )

    def browser(self, address: str = "testclient", **kwargs: Any) -> TestClient:
        """Another browser (own cookies, own client address) on the same running instance."""
        client = TestClient(self.client.app, base_url="http://testserver", client=(address, 50000), **kwargs)
        client.app_state.update(self.client.app_state)
        return client

    def client_for(self, role: str | None, **profile: Any) -> TestClient:
        """A new browser signed in as a person with that role (None: anonymous)."""
        client = self.browser()
        if role is not None:
            user = self.person(role, **profile)
            sign_in(client, user.email)
        return client

    def token_for(self, role: str) -> dict[str, str]:
        user = self.person(role)
        return {"authorization": f"Bearer {self.portal.accounts.create_token(user).secret}"}


def csrf_of(client: TestClient) -> str:
    if "toolkit_csrf" not in client.cookies:
        client.get("/login")
    return str(client.cookies["toolkit_csrf"])


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/") -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password, "next": next_url, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )


def form_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    portal = Portal(settings)
    app = create_app(settings, portal=portal)
    with TestClient(app, base_url="http://testserver") as client:
        yield Site(portal, client)
