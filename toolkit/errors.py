"""Domain errors. Each carries the HTTP status and a stable code; the web layer maps them once.

Messages are English msgids with %(name)s parameters, translated when they are shown, so
domain code stays free of request state.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a string for translation without translating it (gettext's convention)."""
    return message


class ToolkitError(Exception):
    status = 400
    code = "bad_request"
    default_message = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.message = message or self.default_message
        self.params = params
        super().__init__(self.text())

    def text(self, gettext: Any = None) -> str:
        """The message with its parameters filled in, translated when a gettext is given.

        Text parameters are offered to gettext too: labels such as a field's name are marked
        with N_() where the error is raised, and anything else (an e-mail, a tag) is no msgid
        and comes back unchanged.
        """
        if not gettext:
            return self.message % self.params if self.params else self.message
        params = {k: gettext(v) if isinstance(v, str) and v else v for k, v in self.params.items()}
        template = str(gettext(self.message))
        return template % params if params else template


class BadRequest(ToolkitError):
    status = 400
    code = "bad_request"


class Unauthorized(ToolkitError):
    status = 401
    code = "unauthorized"
    default_message = N_("Please sign in first.")


class Forbidden(ToolkitError):
    status = 403
    code = "forbidden"
    default_message = N_("You do not have permission to do this.")


class NotFound(ToolkitError):
    status = 404
    code = "not_found"
    default_message = N_("Not found.")


class Conflict(ToolkitError):
    status = 409
    code = "conflict"
    default_message = N_("Someone else changed this in the meantime. Reload and try again.")


class Gone(ToolkitError):
    status = 410
    code = "gone"
    default_message = N_("This content is no longer available.")


class PreconditionFailed(ToolkitError):
    status = 412
    code = "precondition_failed"
    default_message = N_("The version you sent (If-Match) is not the current one. Reload and try again.")


class TooLarge(ToolkitError):
    status = 413
    code = "too_large"
    default_message = N_("The upload is too large.")


class UnsupportedMedia(ToolkitError):
    status = 415
    code = "unsupported_media_type"
    default_message = N_("This file type is not supported.")


class Invalid(ToolkitError):
    status = 422
    code = "invalid"
    default_message = N_("The input is not valid.")


class Locked(ToolkitError):
    status = 423
    code = "crisis_mode"
    default_message = N_("Sharing is paused.")


class TooManyRequests(ToolkitError):
    status = 429
    code = "too_many_requests"
    default_message = N_("Too many attempts. Wait a few minutes and try again.")


class Unavailable(ToolkitError):
    status = 503
    code = "store_unavailable"
    default_message = N_("The storage service is not reachable right now. Try again in a moment.")


class Starting(Unavailable):
    code = "starting"
    default_message = N_("The portal is starting. Try again in a moment.")
