"""Reading fields of submitted records: refuse wrong types instead of storing their text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolkit.errors import N_, Invalid


def text_field(values: Mapping[str, Any], name: str) -> str:
    """A text field that may be absent or null; a number, list or object is refused, not stringified."""
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(N_("'%(field)s' must be text."), field=name)
    return value
