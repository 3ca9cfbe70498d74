"""`toolkit check`: is this deployment ready? Each finding in plain words."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from toolkit import checkpoints
from toolkit.journal import Journal
from toolkit.settings import DEFAULT_SECRET, Settings
from toolkit.store import Store, StoreUnavailable, VersionMismatch, open_store


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str
    serious: bool = True


def check_store(store: Store) -> list[Finding]:
    findings = []
    key = f"health/check-{secrets.token_hex(6)}"
    try:
        store.ping()
        findings.append(Finding(True, f"The store answers: {store.endpoint}"))
        first = store.put(key, b"one", if_none_match=True)
        if store.read(key) != (b"one", first):
            return [*findings, Finding(False, "What was written to the store did not read back the same.")]
        findings.append(Finding(True, "Writing and reading objects works."))
        problems = []
        try:
            store.put(key, b"two", if_none_match=True)
            problems.append("a create-only write replaced an existing object")
        except VersionMismatch:
            pass
        second = store.put(key, b"two", if_match=first)
        try:
            store.put(key, b"three", if_match=first)
            problems.append("a write from an old version was accepted")
        except VersionMismatch:
            pass
        if problems or store.read(key) != (b"two", second):
            findings.append(
                Finding(
                    False,
                    "Conditional writes are not enforced (" + "; ".join(problems) + "). "
                    "Without them concurrent edits can overwrite each other: use a store that "
                    "supports If-Match and If-None-Match on PUT.",
                )
            )
        else:
            findings.append(Finding(True, "Conditional writes (If-Match / If-None-Match) are enforced."))
    except StoreUnavailable as exc:
        findings.append(Finding(False, f"The store cannot be used: {exc}"))
    finally:
        try:
            store.delete(key)
        except Exception:
            pass
    return findings


def check_settings(settings: Settings) -> list[Finding]:
    findings = []
    if settings.secret_key == DEFAULT_SECRET:
        findings.append(
            Finding(
                False,
                "TOOLKIT_SECRET_KEY is the insecure default: anyone could forge sessions. "
                "Set a long random value, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`.",
            )
        )
    elif len(settings.secret_key) < 32:
        findings.append(
            Finding(False, "TOOLKIT_SECRET_KEY is shorter than 32 characters; use a long random value.")
        )
    else:
        findings.append(Finding(True, "The secret key is set."))
    base = urlsplit(settings.base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        findings.append(Finding(False, f"TOOLKIT_BASE_URL ({settings.base_url!r}) is not a web address."))
    elif base.hostname in ("127.0.0.1", "localhost"):
        findings.append(
            Finding(
                False,
                "TOOLKIT_BASE_URL points at this machine only; share links and e-mails "
                "need the public address people use.",
                serious=False,
            )
        )
    elif base.scheme != "https":
        findings.append(
            Finding(False, "TOOLKIT_BASE_URL is not https: cookies are not marked Secure.", serious=False)
        )
    else:
        findings.append(Finding(True, f"The public address is {settings.base_url}."))
    if settings.trusted_email_header and not settings.trusted_proxies:
        findings.append(
            Finding(
                False,
                "TOOLKIT_TRUSTED_EMAIL_HEADER is set but TOOLKIT_TRUSTED_PROXIES is empty, "
                "so single sign-on is never used.",
            )
        )
    return findings


def check_journal(store: Store, settings: Settings) -> list[Finding]:
    """Whether instances can start from a checkpoint and keep up with the change journal."""
    try:
        pointer = checkpoints.Pointer.read(store)
        behind = len(Journal(store, "check").list_after(pointer.seq if pointer else 0))
    except StoreUnavailable as exc:
        return [Finding(False, f"The change journal cannot be read: {exc}")]
    if pointer is None:
        return [
            Finding(
                True,
                f"No checkpoint yet ({behind} journal entries): the first instance to start lists the "
                "records once and writes one.",
                serious=False,
            )
        ]
    age = max(0.0, time.time() - pointer.written_at) / 60
    text = (
        f"Checkpoint at journal position {pointer.seq} with {pointer.records} records, "
        f"written {age:.0f} minutes ago; {behind} journal entries after it."
    )
    # Far more entries than one interval means no instance is writing checkpoints: starts slow down.
    if behind > 10 * settings.checkpoint_every:
        return [Finding(False, text + " Checkpoints are not being written: is any instance running?")]
    return [Finding(True, text)]


def run_checks(settings: Settings) -> list[Finding]:
    try:
        store = open_store(
            settings.store, s3_endpoint_url=settings.s3_endpoint_url, s3_region=settings.s3_region
        )
    except (StoreUnavailable, ValueError) as exc:
        return [Finding(False, f"The store cannot be opened: {exc}"), *check_settings(settings)]
    found = check_store(store)
    if all(finding.ok for finding in found):
        found += check_journal(store, settings)
    return [*found, *check_settings(settings)]
