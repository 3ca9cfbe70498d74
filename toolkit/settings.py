"""Every TOOLKIT_* environment setting, with its default and help text, in one place."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Once the default of TOOLKIT_SECRET_KEY and published with the source: refused as a key (toolkit.keys).
DEFAULT_SECRET = "change-me-insecure-development-secret"


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a yes/no value, got {raw!r}")


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# Comma-separated IP addresses or networks, checked when the settings are read.
Networks = tuple[str, ...]


def _networks(raw: str) -> Networks:
    entries = _list(raw)
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8 or fd00::/8)"
            ) from None
    return entries


@dataclass(frozen=True)
class Settings:
    store: str = _setting(
        "./data",
        "Where everything is kept: a folder (file:///abs/path or a plain path) or s3://bucket/prefix.",
    )
    s3_endpoint_url: str = _setting(
        "", "Endpoint of an S3-compatible store (MinIO, R2, ...). Empty means AWS S3 itself."
    )
    s3_region: str = _setting("", "Region for the S3 client; empty uses boto3's normal configuration chain.")
    base_url: str = _setting(
        "http://127.0.0.1:8000", "Public address of the portal, used in share links, e-mails and cookies."
    )
    secret_key: str = _setting(
        "",
        "Signs session cookies and CSRF tokens; the same on every instance. Empty: the first start makes "
        "a random key and keeps it in the store (keys/secret-key.json), where every instance finds it.",
        secret=True,
    )
    refresh_seconds: float = _setting(
        5.0, "How often each instance picks up records written by other instances."
    )
    checkpoint_every: int = _setting(
        2000,
        "Changes after which one instance writes a checkpoint (a snapshot starting instances load).",
    )
    checkpoint_minutes: float = _setting(
        10.0, "Also write a checkpoint when this many minutes passed since the last and anything changed."
    )
    record_cache_entries: int = _setting(
        50_000,
        "Share links, acknowledgements and other records read on demand, kept in memory per instance.",
    )
    instance_id: str = _setting(
        "", "Name of this instance in counter and audit objects (the process id is added); empty: host name."
    )
    session_days: int = _setting(30, "How long a browser session lasts before signing in again.")
    trusted_email_header: str = _setting(
        "", "Header carrying the signed-in e-mail from a single sign-on proxy (e.g. X-Forwarded-Email)."
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (), "Comma-separated addresses or networks of proxies whose e-mail header is believed."
    )
    metrics_allow: Networks = _setting(
        (),
        "Comma-separated addresses or networks that may read /metrics without signing in "
        "(loopback always may; admins may from anywhere).",
    )
    sso_auto_create: bool = _setting(
        False, "Create an employee account on first sight of an unknown e-mail from the trusted proxy."
    )
    max_upload_mb: int = _setting(50, "Largest upload accepted, in megabytes.")
    max_json_kb: int = _setting(
        1024,
        "Largest JSON request body accepted, in kilobytes; a larger one is refused (413) as it arrives.",
    )
    spool_dir: str = _setting(
        "",
        "Folder where uploads are kept while they arrive; files older than an hour are removed at start. "
        "Empty: .spool inside a folder store, or toolkit-spool-<store hash> in the system temp folder.",
    )
    max_pixels: int = _setting(80_000_000, "Largest image accepted, in pixels (all frames counted).")
    max_decode_mb: int = _setting(
        256,
        "Memory for decoding uploaded images, in megabytes per process: uploads being processed at "
        "once share it (and at most one per core runs), the rest wait their turn. An image that needs "
        "more on its own (width x height x bytes per pixel, all frames, plus working copies) is refused "
        "(422) before it is decoded.",
    )
    jpeg_quality: int = _setting(85, "JPEG quality of share-ready images (1-95).")
    webp_quality: int = _setting(82, "WebP quality of share-ready images (1-100).")
    rendition_cache_mb: int = _setting(256, "Memory per instance for the hottest share-ready images.")
    fold_at: int = _setting(210, "Characters LinkedIn shows before '...see more'.")
    counter_flush_seconds: float = _setting(
        10.0,
        "How often usage and click counts are written to the store; at most this much is lost on a crash.",
    )
    require_policy_ack: bool = _setting(
        True, "Employees acknowledge the current social media policy before they see the feed."
    )
    smtp_url: str = _setting(
        "",
        "Mail server for the daily digest, e.g. smtp://user:pass@host:587?starttls=1. Empty: no e-mail.",
        secret=True,
    )
    mail_from: str = _setting("toolkit@localhost", "Sender address of e-mails from the portal.")
    webhook_url: str = _setting(
        "", "Incoming webhook (Slack, Teams, ...) told when a new post is approved. Empty: none.", secret=True
    )
    default_language: str = _setting(
        "en", "Language when neither the person nor the browser says (en or nl)."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read TOOLKIT_* variables; keyword overrides win (tests and the CLI use them)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = env_name(f.name)
            if name in env:
                values[f.name] = _parse(f.type, env[name], name)
        values.update(overrides)
        return cls(**values)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def described(self) -> list[tuple[str, str, str]]:
        """(variable, effective value with secrets masked, help) for `toolkit settings`."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = ",".join(value) if isinstance(value, tuple) else str(value)
            if f.metadata["secret"] and shown:
                shown = "(published, refused)" if shown == DEFAULT_SECRET else "****"
            elif f.name == "secret_key":
                shown = "(made once, kept in the store)"
            rows.append((env_name(f.name), shown, f.metadata["help"]))
        return rows


def env_name(field_name: str) -> str:
    return "TOOLKIT_" + field_name.upper()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": _bool,
    "tuple[str, ...]": _list,
    "Networks": _networks,
}


def _parse(type_name: Any, raw: str, name: str) -> Any:
    parser = _PARSERS[str(type_name)]
    try:
        return parser(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}: {exc}") from None
