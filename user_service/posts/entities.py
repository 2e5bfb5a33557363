"""What a post's text names: `@username` mentions and `#tag` hashtags, found once when the
post is written (and stored), never re-parsed at read time.

Offsets are in Unicode code points of the trimmed content (Python string indices); a
JavaScript client walks the content with `Array.from(content)` to use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A username is 3-32 of [A-Za-z0-9_]; the `@` must not follow a word character (an email
# address is not a mention) and the name must end where the word does.
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,32})(?![\w@])")
# Letters (any script), digits and `_`, at most 100 of them; not inside a word (`a#b`).
_TAG = re.compile(r"(?<![\w#&])#(\w{1,100})(?!\w)")

MAX_MENTIONS = 20
MAX_TAGS = 20


@dataclass(frozen=True)
class NameAt:
    """`@name` at content[start:end] (the `@` included)."""

    name: str
    start: int
    end: int


def find_mentions(content: str) -> list[NameAt]:
    """The first `MAX_MENTIONS` `@name`s, in order; whether they name a user is for the
    caller to check."""
    found = [NameAt(m.group(1), m.start(), m.end()) for m in _MENTION.finditer(content)]
    return found[:MAX_MENTIONS]


def find_tags(content: str) -> list[str]:
    """The distinct tags, lower-cased, in order of first appearance (at most `MAX_TAGS`)."""
    tags: dict[str, None] = {}
    for match in _TAG.finditer(content):
        tag = normalize_tag(match.group(1))
        if tag is not None:
            tags.setdefault(tag, None)
    return list(tags)[:MAX_TAGS]


def normalize_tag(text: str) -> str | None:
    """The stored form of a tag (lower-cased), or None when `text` is not one."""
    tag = text.lower()
    return tag if re.fullmatch(r"\w{1,100}", tag) else None
