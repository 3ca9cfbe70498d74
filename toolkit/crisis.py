"""Crisis mode: one switch that pauses all sharing and puts one message in front of everyone.

The switch is a single settings record. Turning it on changes nothing else in the store: every
guarded action asks ensure_calm() first, so turning it off brings everything back exactly as it
was. The message and spokesperson are kept when it is turned off, ready for the next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolkit.accounts import User, iso, now
from toolkit.audit import AuditLog
from toolkit.errors import N_, Conflict, Invalid, Locked, PreconditionFailed
from toolkit.records import Records

SETTINGS = "settings"
CRISIS_ID = "crisis"
MAX_MESSAGE = 2000
MAX_LINE = 300


@dataclass(frozen=True)
class CrisisState:
    active: bool = False
    message: str = ""
    spokesperson: str = ""
    channel: str = ""  # the official channel to follow: a web address or a name
    since: str = ""
    by: str = ""
    version: str = field(default="", compare=False)

    @property
    def channel_is_link(self) -> bool:
        return self.channel.startswith(("https://", "http://"))

    def public(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "message": self.message,
            "spokesperson": self.spokesperson,
            "channel": self.channel,
            "since": self.since,
        }

    def notice(self) -> dict[str, str]:
        """What employees are told while it is on (the 'crisis' object of a 423 answer)."""
        return {"message": self.message, "spokesperson": self.spokesperson, "channel": self.channel}


class SharingPaused(Locked):
    """Locked (423) because crisis mode is on; carries the crisis notice for the error response."""

    def __init__(self, state: CrisisState) -> None:
        super().__init__(N_("Sharing is paused. %(notice)s"), notice=state.message)
        self.state = state
        # toolkit.web.errors merges extra into the JSON error and picks the crisis page for HTML.
        self.extra: dict[str, object] = {"crisis": state.notice()}


def _line(value: Any, limit: int = MAX_LINE) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(N_("Expected text."))
    return " ".join(value.split())[:limit]


class Crisis:
    """Service `portal.crisis`."""

    def __init__(self, records: Records, audit: AuditLog) -> None:
        self.records = records
        self.audit = audit

    def state(self) -> CrisisState:
        """The switch as this instance knows it (from memory: cheap on every request)."""
        record = self.records.get(SETTINGS, CRISIS_ID)
        if record is None:
            return CrisisState()
        data = record.data
        return CrisisState(
            active=bool(data.get("active")),
            message=str(data.get("message", "")),
            spokesperson=str(data.get("spokesperson", "")),
            channel=str(data.get("channel", "")),
            since=str(data.get("since", "")),
            by=str(data.get("by", "")),
            version=record.version,
        )

    @property
    def active(self) -> bool:
        return self.state().active

    def ensure_calm(self) -> None:
        """Raise Locked (423) with the crisis message while crisis mode is on."""
        state = self.state()
        if state.active:
            raise SharingPaused(state)

    def ensure_calm_for(self, user: User | None) -> None:
        """ensure_calm() for everyone but marketing and admins, who keep working during a crisis
        (they check what is out there). Guards what employees share or download from: the feed,
        the composer, the image library and every image file of it."""
        if user is None or not user.is_marketing:
            self.ensure_calm()

    def set(
        self,
        active: bool,
        message: str | None = None,
        spokesperson: str | None = None,
        channel: str | None = None,
        *,
        actor: User,
        version: str | None = None,
        client_version: bool = False,
    ) -> CrisisState:
        """Turn crisis mode on or off, or change its message; None keeps what was there.

        version: the state the admin saw; a stale one is refused (Conflict, or PreconditionFailed
        when it came from the client's If-Match).
        """
        if not isinstance(active, bool):
            raise Invalid(N_("'active' must be true or false."))
        if message is not None and not isinstance(message, str):
            raise Invalid(N_("Expected text."))
        before = self.state()
        new_message = before.message if message is None else message.replace("\r\n", "\n").strip()
        new_spokesperson = before.spokesperson if spokesperson is None else _line(spokesperson)
        new_channel = before.channel if channel is None else _line(channel, 500)
        if len(new_message) > MAX_MESSAGE:
            raise Invalid(N_("The crisis message is longer than %(n)s characters."), n=MAX_MESSAGE)
        if active and not new_message:
            raise Invalid(N_("Write the message employees see during the crisis."))
        if active and not new_spokesperson:
            raise Invalid(N_("Say who speaks for the company during the crisis."))
        moment = iso(now())
        data = {
            "active": active,
            "message": new_message,
            "spokesperson": new_spokesperson,
            "channel": new_channel,
            "since": moment if active != before.active or not before.since else before.since,
            "by": actor.id,
            "updated_at": moment,
        }
        if version is not None and version != before.version and not before.version:
            raise PreconditionFailed() if client_version else Conflict()
        if before.version:
            record = self.records.update(
                SETTINGS,
                CRISIS_ID,
                data,
                version=version or before.version,
                client_version=client_version and version is not None,
            )
        else:
            record = self.records.create(SETTINGS, CRISIS_ID, data)
        if active and not before.active:
            action = "crisis.on"
        elif before.active and not active:
            action = "crisis.off"
        else:
            action = "crisis.update"
        self.audit.record(
            actor,
            action,
            SETTINGS,
            CRISIS_ID,
            before.version or None,
            record.version,
            {"message": new_message, "spokesperson": new_spokesperson, "channel": new_channel},
        )
        return self.state()
