"""Showing text a user gave (a value, a path, a name) in a message or a table: one line,
control characters escaped, shortened when huge."""

from __future__ import annotations

from typing import Any

# the longest value an error message repeats whole
_SHOWN = 60


def brief(value: Any) -> str:
    """`repr(value)`, shortened: an error stays one readable line whatever was given."""
    text = repr(value)
    return (
        text if len(text) <= _SHOWN else f"{text[: _SHOWN - 5]}...{text[-2:]} ({len(text)} chars)"
    )


def printable(text: str) -> str:
    """Text with its control and invisible characters escaped (`\\n`, `\\x1b`, `\\u202e`):
    one line stays one line, and nothing moves a terminal's cursor or reverses its text."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def plain(text: str) -> str:
    """A path or name as given when it is printable and not huge, else as `brief` shows it."""
    return text if text.isprintable() and len(text) <= 200 else brief(text)
