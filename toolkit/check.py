"""`toolkit check`: is this deployment ready? Each finding in plain words."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from toolkit import checkpoints, keys
from toolkit.journal import Journal
from toolkit.settings import DEFAULT_SECRET, Settings
from toolkit.store import Store, StoreUnavailable, VersionMismatch, open_store


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str
    serious: bool = True


# Races are not certain to show on the first try: each concurrent check runs this many rounds.
RACE_ROUNDS = 5


def check_store(store: Store) -> list[Finding]:
    """Whether the store answers and enforces what the portal relies on: conditional writes, also
    when two arrive at once, and conditional deletes."""
    findings = []
    key = f"health/check-{secrets.token_hex(6)}"
    written = [key]
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
            return findings
        findings.append(Finding(True, "Conditional writes (If-Match / If-None-Match) are enforced."))
        findings += _check_concurrent_writes(store, key, written)
        findings.append(_check_conditional_delete(store, key, written))
    except StoreUnavailable as exc:
        findings.append(Finding(False, f"The store cannot be used: {exc}"))
    finally:
        for name in written:
            try:
                store.delete(name)
            except Exception:
                pass
    return findings


def _race(attempts: Sequence[Callable[[], object]]) -> int:
    """Run the attempts at the same moment (threads released by one barrier); how many succeeded,
    an attempt failing with VersionMismatch counting as refused."""
    barrier = threading.Barrier(len(attempts))
    won: list[bool] = [False] * len(attempts)
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            attempts[n]()
            won[n] = True
        except VersionMismatch:
            pass
        except BaseException as exc:  # reported to the caller, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if failures:
        raise failures[0]
    return sum(won)


def _check_concurrent_writes(store: Store, key: str, written: list[str]) -> list[Finding]:
    """Two conditional PUTs from the same version at the same moment: exactly one may win; and two
    create-only PUTs of a new key: exactly one may create it (journal numbers, hash claims and
    spent one-time links rely on that)."""
    double_updates = double_creates = 0
    for round_ in range(RACE_ROUNDS):
        base = store.put(key, b"base %d" % round_)
        updates = [partial(store.put, key, b"writer %d" % n, if_match=base) for n in range(2)]
        if _race(updates) != 1:
            double_updates += 1
        fresh = f"{key}-create-{round_}"
        written.append(fresh)
        creates = [partial(store.put, fresh, b"creator %d" % n, if_none_match=True) for n in range(2)]
        if _race(creates) != 1:
            double_creates += 1
    found = []
    if double_updates:
        found.append(
            Finding(
                False,
                f"Two conditional writes (If-Match) from the same version both won or both lost in "
                f"{double_updates} of {RACE_ROUNDS} tries: the store does not decide between concurrent "
                "writes, so two instances (or two people) can overwrite each other's edits. Use a store "
                "that applies If-Match atomically.",
            )
        )
    else:
        found.append(
            Finding(True, f"Concurrent conditional writes have exactly one winner ({RACE_ROUNDS} tries).")
        )
    if double_creates:
        found.append(
            Finding(
                False,
                f"Two create-only writes (If-None-Match) of one new object both won or both lost in "
                f"{double_creates} of {RACE_ROUNDS} tries: journal numbers, duplicate-upload claims and "
                "one-time links are not safe on this store. Use a store that applies If-None-Match "
                "atomically.",
            )
        )
    else:
        found.append(
            Finding(True, f"Concurrent create-only writes have exactly one winner ({RACE_ROUNDS} tries).")
        )
    return found


def _check_conditional_delete(store: Store, key: str, written: list[str]) -> Finding:
    """A DELETE with If-Match on a version that is no longer current must be refused."""
    victim = f"{key}-delete"
    written.append(victim)
    old = store.put(victim, b"old")
    current = store.put(victim, b"new", if_match=old)
    problems = []
    try:
        store.delete(victim, if_match=old)
        problems.append("a delete from an old version was accepted")
    except VersionMismatch:
        pass
    if store.head(victim) is None:
        problems.append("the object is gone")
    else:
        try:
            store.delete(victim, if_match=current)
        except VersionMismatch:
            problems.append("a delete from the current version was refused")
    if not problems:
        return Finding(True, "Conditional deletes (If-Match on DELETE) are enforced.")
    return Finding(
        False,
        "Conditional deletes are not enforced (" + "; ".join(problems) + "). Deleting a record "
        "someone changed meanwhile can lose that change; one-time links stay single-use (spending "
        "one also makes a create-only marker, so only If-None-Match is relied on).",
        serious=False,
    )


def check_settings(settings: Settings) -> list[Finding]:
    findings = []
    if settings.secret_key == DEFAULT_SECRET:
        findings.append(
            Finding(
                False,
                "TOOLKIT_SECRET_KEY is the key that was once the published default: the portal refuses "
                "to start with it. Set a long random value, or unset it so the portal makes one and "
                "keeps it in the store.",
            )
        )
    elif not settings.secret_key:
        findings.append(
            Finding(
                True,
                "TOOLKIT_SECRET_KEY is not set: sessions are signed with a random key made at the first "
                "start and kept in the store (keys/secret-key.json), which every instance uses. Whoever "
                "can read the bucket can sign in as anyone: keep it private, or set TOOLKIT_SECRET_KEY "
                "(the same on every instance).",
                serious=False,
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
    if all(finding.ok or not finding.serious for finding in found):
        found += check_journal(store, settings)
        if not settings.secret_key and not keys.stored(store):
            found.append(Finding(True, "No key yet: the first instance to start makes one.", serious=False))
    return [*found, *check_settings(settings)]
