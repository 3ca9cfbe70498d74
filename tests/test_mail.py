"""Reading TOOLKIT_SMTP_URL."""

from __future__ import annotations

import pytest

from toolkit.mail import SmtpConfig, parse_smtp_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpConfig("mail.example.com", 25)),
        (
            "smtp://user:pass@mail.example.com:587?starttls=1",
            SmtpConfig("mail.example.com", 587, "user", "pass", starttls=True),
        ),
        ("smtp://mail.example.com?starttls=true", SmtpConfig("mail.example.com", 587, starttls=True)),
        (
            "smtps://me%40example.com:p%3Ass%40@mail.example.com",
            SmtpConfig("mail.example.com", 465, "me@example.com", "p:ss@", implicit_tls=True),
        ),
        ("smtp://relay:2525?timeout=5", SmtpConfig("relay", 2525, timeout=5.0)),
    ],
)
def test_parse_smtp_url_reads_host_port_login_and_tls(url: str, expected: SmtpConfig) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.com", "smtp://", "smtps://mail.example.com?starttls=1", "smtp://h?tls=1"],
)
def test_parse_smtp_url_refuses_what_it_cannot_use(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_smtp_config_never_shows_the_password() -> None:
    assert "secret" not in repr(parse_smtp_url("smtp://user:secret@mail.example.com"))
