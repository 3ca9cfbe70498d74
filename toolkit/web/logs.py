"""What the server's access log may say about the people who open share links: nothing.

uvicorn's access log writes, for every request, the client's address and port and the full path.
For /s/<token> that would be who clicked whose link and when, the one thing the portal promises
not to keep. ShareLinkFilter rewrites those records before any handler sees them: the address
becomes "-" and the path "/s/…" (plus "/image.jpg" for the preview image, without the query), so
the log still shows that share links are used and how they are answered ("GET /s/… 303"). Every
other request is logged as uvicorn logs it.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

ACCESS_LOGGER = "uvicorn.access"
SHARE_PREFIX = "/s/"
REDACTED_ADDRESS = "-"
REDACTED_TOKEN = "…"
# uvicorn logs access with these arguments: (client address, method, path with query, HTTP version,
# status code); its AccessFormatter unpacks exactly five.
_ARGS = 5


def redact_share_path(path: str) -> str | None:
    """The path to log instead of a share-link path; None when the path is not one."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    # The raw path is logged; percent-encoding must not smuggle a token past the check.
    decoded = "/" + unquote(bare).lstrip("/")
    if not decoded.startswith(SHARE_PREFIX):
        return None
    rest = decoded[len(SHARE_PREFIX) :]
    _, slash, tail = rest.partition("/")
    return SHARE_PREFIX + REDACTED_TOKEN + (slash + "image.jpg" if tail == "image.jpg" else "")


class ShareLinkFilter(logging.Filter):
    """Drops the client address and the token from access log records of /s/ requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != _ARGS:
            return True
        _client, method, path, http_version, status = args
        redacted = redact_share_path(str(path))
        if redacted is not None:
            record.args = (REDACTED_ADDRESS, method, redacted, http_version, status)
        return True


def configure_logging() -> None:
    """Install ShareLinkFilter on uvicorn's access logger, once per process.

    Call it after uvicorn has configured logging (its dictConfig keeps filters on loggers) and in
    every worker process: creating the app does both.
    """
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, ShareLinkFilter) for existing in logger.filters):
        logger.addFilter(ShareLinkFilter())
