"""Words that reach gettext through a variable, marked here so extraction keeps them in the catalog.

Templates show a record's status or a person's role with `_(post.status)` or `_(role)`: the value
is the msgid. pybabel cannot see those calls, so without these marks `make messages` would drop
the words from the Dutch catalog. tests/test_translations.py checks the lists stay complete.
"""

from __future__ import annotations

from toolkit.errors import N_

# Statuses of images and posts; "deleted" names a post of which only its counts remain (statistics).
STATUS_WORDS: tuple[str, ...] = (N_("draft"), N_("approved"), N_("archived"), N_("deleted"))

# Role names, as toolkit.accounts.Role spells them.
ROLE_NAMES: tuple[str, ...] = (N_("employee"), N_("marketing"), N_("admin"))
