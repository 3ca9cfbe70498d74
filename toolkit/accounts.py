"""People who use the portal: users, roles, passwords, API tokens and one-time links."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from toolkit.records import Record, Records, new_id

USERS = "users"
EMAILS = "user-emails"  # one claim per address, so two instances cannot create the same person twice
TOKENS = "tokens"
LINKS = "one-time-links"

LINK_PURPOSES = ("setup", "invite", "reset", "login")
LINK_LIFETIME = {
    "setup": timedelta(days=7),
    "invite": timedelta(days=7),
    "reset": timedelta(days=1),
    "login": timedelta(days=7),
}
MIN_PASSWORD = 10


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

    def public(self) -> dict[str, Any]:
        """What the API may show about a person: never the password hash."""
        data = asdict(self)
        data.pop("password_hash")
        data.pop("session_epoch")
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


PROFILE_FIELDS = ("name", "first_name", "job_title", "team", "language", "leaderboard_opt_out")


class LoginThrottle:
    """Failed sign-ins per e-mail in a sliding window, kept in this instance's memory."""

    def __init__(self, limit: int = 5, window: float = 15 * 60) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, email: str) -> None:
        with self._lock:
            recent = self._recent(email)
            if len(recent) >= self.limit:
                raise TooManyRequests(N_("Too many failed attempts. Wait a few minutes and try again."))

    def failed(self, email: str) -> None:
        with self._lock:
            self._recent(email).append(time.monotonic())

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email, None)

    def _recent(self, email: str) -> deque[float]:
        stamps = self._failures.setdefault(email, deque())
        while stamps and stamps[0] < time.monotonic() - self.window:
            stamps.popleft()
        return stamps


class Accounts:
    def __init__(self, records: Records, audit: AuditLog) -> None:
        self.records = records
        self.audit = audit
        self.throttle = LoginThrottle()
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
        return any(u.role == "admin" and u.active and u.password_hash for u in self.all())

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
                changes[key] = value.strip()[:200]
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
        changed = replace(user, active=active, session_epoch=user.session_epoch + 1)
        action = "user.activate" if active else "user.deactivate"
        saved = self._save(user, changed, action, actor)
        if not active:
            for token in self.tokens_of(user):
                self.records.delete(TOKENS, token.id)
        return saved

    def set_password(self, user: User, password: str, *, actor: User | None = None) -> User:
        check_password_strength(password)
        changed = replace(user, password_hash=hash_password(password), session_epoch=user.session_epoch + 1)
        return self._save(user, changed, "user.password", actor or user)

    # Signing in

    def authenticate(self, email: str, password: str) -> User:
        """The active user with that e-mail and password; one vague error for every failure."""
        key = email.strip().lower()
        self.throttle.check(key)
        user = self.by_email(email)
        ok = verify_password(password, user.password_hash) if user and user.password_hash else False
        if not user:
            # Spend the same time as a real check, so timing does not tell which addresses exist.
            verify_password(password, _DUMMY_HASH)
        if not ok or user is None or not user.active:
            self.throttle.failed(key)
            raise Invalid(N_("That e-mail and password do not match an active account."))
        self.throttle.succeeded(key)
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
            if self.has_admin():
                raise expired
            return None, purpose
        user = self.get(record.data["user_id"])
        if user is None or not user.active or _link_epoch(record) != user.session_epoch:
            raise expired
        return user, purpose

    def use_link(self, secret: str) -> tuple[User | None, str]:
        """Spend a link exactly once, even when two instances receive it at the same moment."""
        user, purpose = self.peek_link(secret)
        record = self.records.require(LINKS, _digest(secret))
        try:
            self.records.delete(LINKS, record.id, version=record.version)
        except (Conflict, NotFound):
            raise NotFound(N_("This link has expired or was already used. Ask for a new one.")) from None
        return user, purpose

    def create_first_admin(self, secret: str, email: str, name: str, password: str) -> User:
        check_password_strength(password)
        normalise_email(email)
        _, purpose = self.peek_link(secret)
        if purpose != "setup":
            raise NotFound(N_("This link has expired or was already used. Ask for a new one."))
        self.use_link(secret)
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
        return gone


def _link_epoch(record: Record) -> int:
    """The epoch a link was issued at. Links from before links carried one count as epoch 0: a person
    still at 0 never changed password nor was deactivated, so their link stays good; anyone whose
    epoch moved since has such a link voided, which is the safe side (they ask for a new one)."""
    epoch = record.data.get("epoch", 0)
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else -1


_DUMMY_HASH = hash_password(secrets.token_hex(8))
