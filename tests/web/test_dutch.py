"""A Dutch browser gets the portal in Dutch: pages, status and role words, error pages and API errors."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.web.conftest import Site, sign_in
from tests.web.test_accounts import session_browser

DUTCH = {"accept-language": "nl-NL,nl;q=0.9,en;q=0.4"}


def dutch_browser(site: Site, role: str | None) -> TestClient:
    browser = session_browser(site, role)
    browser.headers.update(DUTCH)
    return browser


def test_login_page_is_dutch_for_a_dutch_browser(site: Site) -> None:
    page = dutch_browser(site, None).get("/login").text
    assert "Inloggen" in page and "Wachtwoord" in page and "Vraag een beheerder om een inloglink." in page
    assert "Sign in" not in page and "Password" not in page


def test_wrong_password_is_refused_in_dutch(site: Site) -> None:
    site.person("employee")
    browser = dutch_browser(site, None)
    refused = sign_in(browser, "employee@example.com", "not the password")
    assert refused.status_code == 422
    assert "Dit e-mailadres en wachtwoord horen niet bij een actief account." in refused.text


def test_feed_is_dutch_for_a_signed_in_employee(site: Site) -> None:
    response = dutch_browser(site, "employee").get("/")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="nl"' in page
    assert "Voorbeeldposts" in page and "Uitloggen" in page and "Maak je profiel compleet" in page
    assert "Er zijn op dit moment geen voorbeeldposts." in page
    assert "Example posts" not in page and "Sign out" not in page


def test_profile_page_is_dutch(site: Site) -> None:
    page = dutch_browser(site, "employee").get("/profile").text
    assert "Je profiel" in page and "Voornaam" in page and "Zet mij niet op de ranglijst" in page


def test_status_and_role_words_are_dutch(site: Site) -> None:
    posts = dutch_browser(site, "marketing").get("/manage/posts").text
    assert all(word in posts for word in ("concept", "goedgekeurd", "gearchiveerd", "Elke status"))
    people = dutch_browser(site, "admin").get("/admin/users").text
    assert all(f">{word}</option>" in people for word in ("medewerker", "marketing", "beheerder"))


def test_error_page_and_api_error_are_dutch(site: Site) -> None:
    browser = dutch_browser(site, "employee")
    page = browser.get("/no-such-page")
    assert page.status_code == 404 and "Niet gevonden" in page.text
    api = browser.get("/api/v1/nothing-here")
    assert api.status_code == 404 and api.json()["error"]["message"] == "Niet gevonden."


def test_field_labels_inside_error_messages_are_translated(site: Site) -> None:
    from toolkit.errors import N_, Invalid
    from toolkit.i18n import translations

    error = Invalid(N_("%(field)s must be a colour like #005293."), field=N_("Brand colour"))
    dutch = error.text(translations("nl").gettext)
    assert "Brand colour" not in dutch and "#005293" in dutch
    assert Invalid(N_("'%(email)s' is not an e-mail address."), email="x@y").text(
        translations("nl").gettext).count("x@y") == 1
