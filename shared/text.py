"""What user-written text both databases can store and every client can show: one rule for
posts and chat messages alike."""

from __future__ import annotations

import re

# C0 control characters other than tab, line feed and carriage return. PostgreSQL refuses
# NUL outright (a text value cannot hold it); the others are refused with it so that text
# that reaches one service reaches every other and every screen the same way.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored as written, or None when it can."""
    if _CONTROL.search(text):
        return "contains a control character (such as NUL)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: legal in JSON's \u escapes, not UTF-8
        return "is not valid Unicode text"
    return None
