"""The one rule for text a client sends: what may reach the database or another person.

- No C0 control character (U+0000-U+001F) and no DEL. PostgreSQL refuses NUL outright (a 500
  with a traceback if it got that far) while SQLite stores it; the others only hide or garble
  text. Multi-line text (posts, chat messages) keeps tab, line feed and carriage return.
- No lone surrogate: legal in JSON's `\\u` escapes, but not UTF-8, so neither database stores it.
- Content people read must be visible: text that is empty once whitespace and invisible
  format characters (zero-width spaces and joiners, bidi controls such as U+202E: Unicode
  category Cf) are taken out would show as a blank or reversed line, and is refused.

`text_problem` says what is wrong (for code that reports its own errors, such as the chat
frames and cursors); the markers apply it to pydantic fields and FastAPI parameters, where its
`ValueError` becomes a 422.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROLS_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(text: str, *, multiline: bool = False, visible: bool = False) -> str | None:
    """Why `text` is refused, or None when it is acceptable.

    `multiline` allows tab, LF and CR; `visible` requires something besides whitespace and
    format characters."""
    controls = _CONTROLS_BUT_LINE_BREAKS if multiline else _CONTROLS
    if controls.search(text):
        return "contains a control character"
    if _SURROGATE.search(text):
        return "is not valid Unicode text"
    if visible and not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text):
        return "has no visible characters"
    return None


def _rule(*, multiline: bool, visible: bool) -> tuple[AfterValidator, FieldInfo]:
    """The check, and a `pattern` in the JSON schema so that clients (and fuzzers) know."""

    def check(text: str) -> str:
        problem = text_problem(text, multiline=multiline, visible=visible)
        if problem is not None:
            raise ValueError(f"text {problem}")
        return text

    allowed = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]" if multiline else r"[^\x00-\x1f\x7f]"
    return AfterValidator(check), Field(json_schema_extra={"pattern": f"^{allowed}*$"})


# Markers to put after a field's own length constraints (pydantic applies `Annotated`
# metadata in order, so trimming and lengths must come first):
#   Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), *VISIBLE_NAME]
# An identifier, a login, a search term, a path parameter: one line, no controls.
PLAIN_TEXT = _rule(multiline=False, visible=False)
# A name people see (a room's): one line, no controls, something visible.
VISIBLE_NAME = _rule(multiline=False, visible=True)
# Content people read (a post, a chat message): lines allowed, something visible.
VISIBLE_CONTENT = _rule(multiline=True, visible=True)

PlainText = Annotated[str, *PLAIN_TEXT]
