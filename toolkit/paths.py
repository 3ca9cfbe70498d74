"""Where the templates and static assets are: inside the installed package, or beside it in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """templates/ or assets/: shipped in the wheel as toolkit/<name>, kept at the top of a checkout."""
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise RuntimeError(f"cannot find the {name}/ folder next to {_PACKAGE}")


TEMPLATES = resource_dir("templates")
ASSETS = resource_dir("assets")
STATIC = ASSETS / "static"
DEMO = ASSETS / "demo"
