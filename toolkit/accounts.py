"""People who use the portal: users, roles, passwords, sessions, API tokens and one-time links,
and the sign-in throttle."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Forbidden, Invalid, NotFound
from toolkit.fields import clean_text
from toolkit.keys import Keys
from toolkit.records import Record, Records, new_id
from toolkit.sign_in_throttle import LoginThrottle
from toolkit.store import ObjectMissing, StoreUnavailable, VersionMismatch

log = logging.getLogger(__name__)

USERS = "users"
EMAILS = "user-emails"  # one claim per address, so two instances cannot create the same person twice
TOKENS = "tokens"
LINKS = "one-time-links"
# Create-only markers of spent one-time links, spent/<sha256 of the secret>: see use_link.
SPENT_PREFIX = "spent/"
# One claim, made create-only by whoever creates the first admin through a setup link: two setup
# links used at the same moment on two instances cannot both make an admin.
SETUP = "setup"
FIRST_ADMIN = "first-admin"

LINK_PURPOSES = ("setup", "invite", "reset", "login")
LINK_LIFETIME = {
    "setup": timedelta(days=7),
    "invite": timedelta(days=7),
    "reset": timedelta(days=1),
    "login": timedelta(days=7),
}
MIN_PASSWORD = 10
# Sessions signed out one by one that a person's record remembers until they would have expired;
# past this many, signing out once more ends all of that person's sessions instead (the safe side).
MAX_ENDED_SESSIONS = 50
LINK_EXPIRED = N_("This link has expired or was already used. Ask for a new one.")


class Role(IntEnum):
    """Ordered: each role can do everything the ones below it can."""

    employee = 1
    marketing = 2
    admin = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.strip().lower()]
        except KeyError:
            raise Invalid(
                N_("Unknown role '%(role)s': use employee, marketing or admin."), role=value
            ) from None


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def normalise_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 254:
        raise Invalid(N_("'%(email)s' is not an e-mail address."), email=email)
    return email.lower()


def _email_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:40]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# scrypt with N=2**15, r=8: 32 MB of memory per guess, about 0.1 s on a laptop core.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 2**20, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(key) // 2,
        maxmem=64 * 2**20,
    )
    return hmac.compare_digest(candidate.hex(), key)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(N_("Choose a password of at least %(n)s characters."), n=MIN_PASSWORD)


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str = ""
    first_name: str = ""
    job_title: str = ""
    team: str = ""
    language: str = ""
    role: str = "employee"
    active: bool = True
    password_hash: str = ""
    # Bumped to end every session of this person at once (deactivation, password change).
    session_epoch: int = 0
    leaderboard_opt_out: bool = False
    created_at: str = ""
    # Sessions signed out one by one: session id -> when it would have expired (Unix seconds).
    ended_sessions: dict[str, int] = field(default_factory=dict, compare=False)
    version: str = field(default="", compare=False)

    @property
    def level(self) -> Role:
        return Role[self.role]

    def can(self, role: Role) -> bool:
        return self.active and self.level >= role

    @property
    def is_marketing(self) -> bool:
        return self.can(Role.marketing)

    @property
    def is_admin(self) -> bool:
        return self.can(Role.admin)

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def live_session(self, epoch: int, sid: str) -> bool:
        """Whether a session of this person from that epoch, with that id, still signs them in."""
        return self.active and self.session_epoch == epoch and sid not in self.ended_sessions

    def public(self) -> dict[str, Any]:
        """What the API may show about a person: never the password hash."""
        data = asdict(self)
        data.pop("password_hash")
        data.pop("session_epoch")
        data.pop("ended_sessions")
        data["has_password"] = bool(self.password_hash)
        return data

    @classmethod
    def from_record(cls, record: Record) -> User:
        known = {k: v for k, v in record.data.items() if k in cls.__dataclass_fields__}
        return cls(id=record.id, version=record.version, **{k: v for k, v in known.items() if k != "id"})

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
        data.pop("version")
        return data


@dataclass(frozen=True)
class Issued:
    """A secret shown once (token or link) and the record that stores only its hash."""

    secret: str
    expires_at: str = ""


PROFILE_TEXT_LIMIT = 200
PROFILE_FIELDS = ("name", "first_name", "job_title", "team", "language", "leaderboard_opt_out")


class Accounts:
    def __init__(self, records: Records, audit: AuditLog, *, keys: Keys | None = None) -> None:
        self.records = records
        self.audit = audit
        # The portal's key; without one (tools and tests that make Accounts alone), the store's.
        self.keys = keys or Keys(records.store)
        self.throttle = LoginThrottle(records.store, lambda: self.keys.derive("sign-in-throttle"))
        self._users: dict[str, User] = {}

    # Looking people up

    def get(self, user_id: str) -> User | None:
        record = self.records.get(USERS, user_id)
        if record is None:
            return None
        # Every request looks its person up; rebuild the object only when the record changed.
        cached = self._users.get(user_id)
        if cached is None or cached.version != record.version:
            cached = self._users[user_id] = User.from_record(record)
        return cached

    def require(self, user_id: str) -> User:
        user = self.get(user_id)
        if user is None:
            raise NotFound(N_("No such person."))
        return user

    def by_email(self, email: str) -> User | None:
        try:
            claim = self.records.get(EMAILS, _email_key(email))
        except Invalid:
            return None
        return self.get(claim.data["user_id"]) if claim else None

    def all(self) -> list[User]:
        return sorted((User.from_record(r) for r in self.records.all(USERS)), key=lambda u: u.email)

    def has_admin(self) -> bool:
        """Whether any admin account exists, active or not, with a password or single sign-on only:
        while none does, a setup link can make the first one; after that, never."""
        return any(record.data.get("role") == Role.admin.name for record in self.records.all(USERS))

    # Changing people

    def add(
        self,
        email: str,
        *,
        role: str = "employee",
        name: str = "",
        password: str | None = None,
        actor: User | None = None,
        **profile: Any,
    ) -> User:
        email = normalise_email(email)
        Role.parse(role)
        if password is not None:
            check_password_strength(password)
        user = User(
            id=new_id(),
            email=email,
            name=name.strip(),
            first_name=profile.pop("first_name", "") or name.strip().split(" ")[0],
            role=Role.parse(role).name,
            created_at=iso(now()),
            password_hash=hash_password(password) if password else "",
            **profile,
        )
        try:
            self.records.create(EMAILS, _email_key(email), {"user_id": user.id})
        except Conflict:
            raise Conflict(N_("There is already an account for %(email)s."), email=email) from None
        record = self.records.create(USERS, user.id, user.to_data())
        self.audit.record(
            actor, "user.create", USERS, user.id, None, record.version, {"email": email, "role": role}
        )
        return User.from_record(record)

    def _save(self, user: User, changed: User, action: str, actor: User | None, **details: Any) -> User:
        record = self.records.update(USERS, user.id, changed.to_data(), version=user.version)
        self.audit.record(actor, action, USERS, user.id, user.version, record.version, details)
        return User.from_record(record)

    def update_profile(self, user: User, values: dict[str, Any], *, actor: User | None = None) -> User:
        from toolkit.i18n import LANGUAGES

        changes = {k: v for k, v in values.items() if k in PROFILE_FIELDS}
        for key, value in changes.items():
            # A number or list saved as a name would break every page and composer that shows it.
            if key == "leaderboard_opt_out":
                if not isinstance(value, bool):
                    raise Invalid(N_("%(field)s must be true or false."), field=key)
            elif not isinstance(value, str):
                raise Invalid(N_("%(field)s must be text."), field=key)
            else:
                changes[key] = clean_text(value, key)
                if len(changes[key]) > PROFILE_TEXT_LIMIT:
                    raise Invalid(
                        N_("%(field)s is longer than %(n)s characters."), field=key, n=PROFILE_TEXT_LIMIT
                    )
        if changes.get("language") not in (None, "", *LANGUAGES):
            raise Invalid(N_("Unknown language."))
        return self._save(
            user, replace(user, **changes), "user.profile", actor or user, fields=sorted(changes)
        )

    def set_role(self, user: User, role: str, *, actor: User) -> User:
        level = Role.parse(role)
        if user.id == actor.id and level < Role.admin:
            raise Forbidden(N_("You cannot take away your own admin role."))
        return self._save(user, replace(user, role=level.name), "user.role", actor, role=level.name)

    def set_active(self, user: User, active: bool, *, actor: User) -> User:
        if user.id == actor.id and not active:
            raise Forbidden(N_("You cannot deactivate yourself."))
        # Both directions bump the epoch: deactivation ends every session, and reactivation voids
        # every one-time link issued before it (also those issued while the account was inactive).
        changed = replace(user, active=active, session_epoch=user.session_epoch + 1, ended_sessions={})
        action = "user.activate" if active else "user.deactivate"
        saved = self._save(user, changed, action, actor)
        if not active:
            for token in self.tokens_of(user):
                self.records.delete(TOKENS, token.id)
        return saved

    def set_password(self, user: User, password: str, *, actor: User | None = None) -> User:
        check_password_strength(password)
        changed = replace(
            user,
            password_hash=hash_password(password),
            session_epoch=user.session_epoch + 1,
            ended_sessions={},
        )
        return self._save(user, changed, "user.password", actor or user)

    # Ending sessions

    def end_session(self, user_id: str, sid: str, expires_at: float) -> None:
        """Sign one session out: every instance refuses it once it has this record (its next refresh).

        The session id is kept in the person's record until the session would have expired anyway;
        expired ids are dropped at each write, and past MAX_ENDED_SESSIONS the person's epoch is
        bumped instead, which ends all their sessions.
        """
        if self.records.get(USERS, user_id) is None:
            return

        def change(data: dict[str, Any]) -> dict[str, Any]:
            moment = time.time()
            before = data.get("ended_sessions")
            ended = {
                str(k): int(v)
                for k, v in (before.items() if isinstance(before, dict) else ())
                if isinstance(v, int | float) and v > moment
            }
            ended[sid] = int(expires_at) + 1
            if len(ended) > MAX_ENDED_SESSIONS:
                data["session_epoch"] = int(data.get("session_epoch", 0)) + 1
                ended = {}
            data["ended_sessions"] = ended
            return data

        self.records.modify(USERS, user_id, change)

    def end_all_sessions(self, user: User, *, actor: User | None = None) -> User:
        """Sign this person out everywhere: every session made before now stops working."""

        def change(data: dict[str, Any]) -> dict[str, Any]:
            data["session_epoch"] = int(data.get("session_epoch", 0)) + 1
            data["ended_sessions"] = {}
            return data

        record = self.records.modify(USERS, user.id, change)
        self.audit.record(
            actor or user, "user.sessions.end", USERS, user.id, user.version, record.version, {}
        )
        return User.from_record(record)

    # Signing in

    def authenticate(self, email: str, password: str, client: str = "") -> User:
        """The active user with that e-mail and password; one vague error for every failure.

        client: who is signing in (the web layer's client address bucket), for the throttle.
        """
        key = email.strip().lower()
        self.throttle.check(key, client)
        user = self.by_email(email)
        ok = verify_password(password, user.password_hash) if user and user.password_hash else False
        if not user:
            # Spend the same time as a real check, so timing does not tell which addresses exist.
            verify_password(password, _DUMMY_HASH)
        if not ok or user is None or not user.active:
            self.throttle.failed(key, client)
            raise Invalid(N_("That e-mail and password do not match an active account."))
        self.throttle.succeeded(key, client)
        return user

    def sso_user(self, email: str, *, auto_create: bool) -> User | None:
        """The person a trusted single sign-on proxy vouches for, created on first sight if allowed."""
        try:
            user = self.by_email(email)
        except Invalid:
            return None
        if user is None and auto_create:
            try:
                user = self.add(email, role="employee")
            except Conflict:
                user = self.by_email(email)
        return user if user and user.active else None

    # API tokens: only the hash is stored

    def create_token(self, user: User, label: str = "", *, actor: User | None = None) -> Issued:
        secret = "tk_" + secrets.token_urlsafe(32)
        record = self.records.create(
            TOKENS, _digest(secret), {"user_id": user.id, "label": label.strip(), "created_at": iso(now())}
        )
        self.audit.record(
            actor or user, "token.create", TOKENS, record.id[:12], None, record.version, {"user": user.email}
        )
        return Issued(secret)

    def user_for_token(self, secret: str) -> User | None:
        record = self.records.get(TOKENS, _digest(secret))
        if record is None:
            return None
        user = self.get(record.data["user_id"])
        return user if user and user.active else None

    def tokens_of(self, user: User) -> list[Record]:
        return [r for r in self.records.all(TOKENS) if r.data.get("user_id") == user.id]

    def revoke_token(self, token: str, *, actor: User | None = None) -> Record:
        """Revoke by the token itself or by the start of its id (as `token list` shows it)."""
        record = self.records.get(TOKENS, _digest(token))
        if record is None and len(token) >= 8:
            matches = [r for r in self.records.all(TOKENS) if r.id.startswith(token)]
            record = matches[0] if len(matches) == 1 else None
        if record is None:
            raise NotFound(N_("No such token."))
        self.records.delete(TOKENS, record.id)
        self.audit.record(actor, "token.revoke", TOKENS, record.id[:12], record.version, None, {})
        return record

    # One-time links: setup, invite, password reset, demo sign-in

    def issue_link(self, user: User | None, purpose: str, *, actor: User | None = None) -> Issued:
        """A one-time link; 'setup' links belong to nobody yet and create the first admin."""
        if purpose not in LINK_PURPOSES or (user is None) != (purpose == "setup"):
            raise ValueError(purpose)
        if purpose == "setup" and self.has_admin():
            raise ValueError("an admin account exists: no setup link")
        secret = secrets.token_urlsafe(24)
        expires = now() + LINK_LIFETIME[purpose]
        data: dict[str, Any] = {
            "user_id": user.id if user else "",
            "purpose": purpose,
            "expires_at": iso(expires),
        }
        if user is not None:
            # The person's epoch now: a password change, deactivation or reactivation bumps it and so
            # voids the link without listing or deleting anything.
            data["epoch"] = user.session_epoch
        self.records.create(LINKS, _digest(secret), data)
        if actor is not None and user is not None:
            self.audit.record(actor, f"user.link.{purpose}", USERS, user.id, None, None, {})
        return Issued(secret, iso(expires))

    def peek_link(self, secret: str) -> tuple[User | None, str]:
        """The person (None for setup) and purpose of a valid link, without using it up."""
        expired = NotFound(N_("This link has expired or was already used. Ask for a new one."))
        record = self.records.get(LINKS, _digest(secret))
        if record is None or datetime.fromisoformat(record.data["expires_at"]) < now():
            raise expired
        purpose = record.data["purpose"]
        if purpose == "setup":
            # Only while there is no admin account at all (SSO-only admins included).
            if self.has_admin() or self.records.get(SETUP, FIRST_ADMIN) is not None:
                raise expired
            return None, purpose
        user = self.get(record.data["user_id"])
        if user is None or not user.active or _link_epoch(record) != user.session_epoch:
            raise expired
        return user, purpose

    def use_link(self, secret: str) -> tuple[User | None, str]:
        """Spend a link exactly once, even when two instances receive it at the same moment.

        Who spends it is decided by a create-only marker, spent/<digest>: If-None-Match on create
        is the one conditional primitive this relies on (`toolkit check` verifies it, also under
        concurrency). The link record is deleted after that, conditionally; alone, that delete
        would let a link work twice on a store that ignores If-Match on DELETE.
        """
        used = NotFound(N_("This link has expired or was already used. Ask for a new one."))
        user, purpose = self.peek_link(secret)
        record = self.records.require(LINKS, _digest(secret))
        marker = json.dumps({"spent_at": iso(now()), "expires_at": record.data["expires_at"]}).encode()
        try:
            self.records.store.put(
                SPENT_PREFIX + record.id, marker, content_type="application/json", if_none_match=True
            )
        except VersionMismatch:
            raise used from None
        try:
            self.records.delete(LINKS, record.id, version=record.version)
        except (Conflict, NotFound):
            raise used from None  # deleted or replaced meanwhile (revoked): not this link any more
        except StoreUnavailable:
            # Spent all the same (the marker says so); the record goes with the expired ones.
            log.warning("could not delete spent one-time link %s", record.id[:12], exc_info=True)
        return user, purpose

    def create_first_admin(self, secret: str, email: str, name: str, password: str) -> User:
        check_password_strength(password)
        normalise_email(email)
        _, purpose = self.peek_link(secret)
        if purpose != "setup":
            raise NotFound(LINK_EXPIRED)
        self.use_link(secret)
        try:
            self.records.create(SETUP, FIRST_ADMIN, {"email": normalise_email(email), "at": iso(now())})
        except Conflict:
            raise NotFound(LINK_EXPIRED) from None
        existing = self.by_email(email)
        if existing is not None:
            # A password set here is a password change too: the person's older links stop working.
            changed = replace(
                existing,
                role="admin",
                active=True,
                password_hash=hash_password(password),
                session_epoch=existing.session_epoch + 1,
            )
            return self._save(existing, changed, "user.setup", None)
        return self.add(email, role="admin", name=name, password=password)

    def purge_expired_links(self) -> int:
        gone = 0
        for record in self.records.all(LINKS):
            if datetime.fromisoformat(record.data["expires_at"]) < now():
                self.records.delete(LINKS, record.id)
                gone += 1
        # A spent marker only matters while its link could still be valid.
        store = self.records.store
        for info in list(store.list(SPENT_PREFIX)):
            try:
                expires = json.loads(store.read(info.key)[0])["expires_at"]
                if datetime.fromisoformat(expires) >= now():
                    continue
            except ObjectMissing:
                continue
            except (ValueError, KeyError, TypeError):
                pass  # unreadable: not one of ours to keep
            store.delete(info.key)
        return gone


def _link_epoch(record: Record) -> int:
    """The epoch a link was issued at. Links from before links carried one count as epoch 0: a person
    still at 0 never changed password nor was deactivated, so their link stays good; anyone whose
    epoch moved since has such a link voided, which is the safe side (they ask for a new one)."""
    epoch = record.data.get("epoch", 0)
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else -1


_DUMMY_HASH = hash_password(secrets.token_hex(8))
