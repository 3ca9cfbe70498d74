"""Outgoing e-mail over SMTP, configured by one URL (TOOLKIT_SMTP_URL).

smtp://user:pass@host:587?starttls=1   plain connection upgraded with STARTTLS
smtps://user:pass@host:465             TLS from the first byte
smtp://host:25                         no TLS, no login (a relay on the local network)

User name and password are percent-decoded, so '@' or ':' in them can be written as %40 and %3A.
Sending blocks: callers run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = False
    implicit_tls: bool = False
    timeout: float = 30.0

    def __repr__(self) -> str:  # never show the password in logs
        return f"SmtpConfig(host={self.host!r}, port={self.port}, username={self.username!r})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Read smtp:// or smtps:// URLs; ValueError says what is wrong with one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("the mail server URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("the mail server URL has no host")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise ValueError(f"unknown mail server option(s): {', '.join(unknown)}")
    implicit_tls = parts.scheme == "smtps"
    starttls = query.get("starttls", "").lower() in _TRUE
    if implicit_tls and starttls:
        raise ValueError("use either smtps:// or ?starttls=1, not both")
    default_port = 465 if implicit_tls else (587 if starttls else 25)
    return SmtpConfig(
        host=parts.hostname,
        port=parts.port or default_port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        starttls=starttls,
        implicit_tls=implicit_tls,
        timeout=float(query.get("timeout", "30")),
    )


def build_message(sender: str, recipient: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def send_messages(config: SmtpConfig, messages: Sequence[EmailMessage]) -> None:
    """Deliver the messages over one connection; smtplib errors propagate to the caller."""
    if not messages:
        return
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if config.implicit_tls:
        client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with client:
        if config.starttls:
            client.starttls(context=context)
        if config.username:
            client.login(config.username, config.password)
        for message in messages:
            client.send_message(message)
