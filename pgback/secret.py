"""A value that must never be printed."""

from __future__ import annotations


class Secret:
    """A value that must never be printed: its repr and str are redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# a secret file is a key or a password: anything longer is the wrong file (or /dev/zero)
MAX_SECRET_FILE = 64 * 1024


def read_secret_file(path: str) -> str:
    """A secret's file (`PGBACK_<KEY>_FILE`, a server's `<key>_file`), without the trailing
    newline; OSError when it cannot be read, ValueError when it is no secret's text."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_SECRET_FILE + 1)
    if len(data) > MAX_SECRET_FILE:
        raise ValueError(f"larger than {MAX_SECRET_FILE // 1024} KiB: not a secret's file")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
