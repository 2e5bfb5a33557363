"""The one text rule: no control characters, valid Unicode, and visible where people read it."""

from __future__ import annotations

import pytest

from shared.text import text_problem


@pytest.mark.parametrize("text", ["a\x00b", "\x01", "tab\there", "line\nbreak", "del\x7f", "\x1f"])
def test_single_line_text_refuses_every_c0_control_and_del(text: str) -> None:
    assert text_problem(text) == "contains a control character"


def test_multi_line_text_keeps_tab_and_line_breaks_only() -> None:
    assert text_problem("one\ttwo\r\nthree", multiline=True) is None
    for bad in ("a\x00", "a\x0b", "a\x0c", "a\x1b[31m", "a\x7f"):
        assert text_problem(bad, multiline=True) == "contains a control character"


def test_lone_surrogates_are_refused() -> None:
    assert text_problem("a\ud800b") == "is not valid Unicode text"


@pytest.mark.parametrize("text", ["\u200b\u200b", "\u202e", " \u200d\u2066 ", "\ufeff", "\u00ad"])
def test_format_characters_alone_are_not_visible(text: str) -> None:
    assert text_problem(text, visible=True) == "has no visible characters"
    assert text_problem(text) is None  # an identifier need not be visible


@pytest.mark.parametrize(
    "text", ["a", "\u05e9\u05dc\u05d5\u05dd", "e\u0301", "\U0001f600", "\u200bx"]
)
def test_anything_visible_is_accepted(text: str) -> None:
    assert text_problem(text, multiline=True, visible=True) is None
