"""Parsers for single setting values: each takes what a user wrote (env text, TOML value, a flag)
and returns the typed value or raises ValueError saying what was expected."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from pgback.durations import parse_duration
from pgback.location import parse_location
from pgback.secret import Secret
from pgback.text import brief

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_INTEGER = re.compile(r"[+-]?[0-9]+")
# durations beyond this are typing mistakes, and overflow the clocks and timers they set
_LONGEST = timedelta(days=36525)


def _kind(raw: Any) -> str:
    """What a settings file value is, in TOML's words."""
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int):
        return "an integer"
    if isinstance(raw, float):
        return "a float"
    if isinstance(raw, list):
        return "an array"
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, (datetime, date, time)):
        return "a date or time"
    return f"a {type(raw).__name__}"


def _text(raw: Any, *, numbers: bool = False) -> str:
    """The text of a value: a string (from the environment, a flag or the file), or with
    `numbers` an integer too. Anything else (a TOML table, array, date, float) is refused
    rather than read as its Python spelling; so are characters no setting can carry (a NUL
    ends a C string; a lone surrogate is a byte that is not UTF-8)."""
    if isinstance(raw, str):
        text = raw
    elif numbers and isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    else:
        raise ValueError(f"expected {'a number or ' if numbers else ''}a string, got {_kind(raw)}")
    if "\0" in text:
        raise ValueError("contains a NUL character")
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise ValueError("is not valid UTF-8 text")
    return text


def as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"expected true or false, got {_kind(raw)}")
    text = _text(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {brief(raw)}")


def as_int(raw: Any, minimum: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueError(f"expected an integer, got {_kind(raw)}")
    text = _text(raw, numbers=True).strip()
    # ASCII digits only: int() would also take other scripts' digits and `1_000`
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"expected an integer, got {brief(raw)}")
    if len(text) > 18:
        raise ValueError(f"too large, got {brief(raw)}")
    value = int(text)
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value


def as_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        if not all(isinstance(item, str) for item in raw):
            odd = next(item for item in raw if not isinstance(item, str))
            raise ValueError(f"expected an array of strings, it holds {_kind(odd)}")
        items = [_text(item) for item in raw]
    else:
        items = _text(raw).split(",")
    return tuple(item.strip() for item in items if item.strip())


def as_str(raw: Any) -> str:
    return _text(raw).strip()


def as_opt_str(raw: Any) -> str | None:
    text = _text(raw).strip()
    return text or None


def as_location(raw: Any) -> str | None:
    """A repository URL, written the one way `pgback config` shows it (`s3://bucket/prefix`,
    `file:///directory`)."""
    text = as_opt_str(raw)
    return str(parse_location(text)) if text else None


def as_secret(raw: Any) -> Secret | None:
    # secrets are not stripped inside: a passphrase may end with a space; a trailing
    # newline from a *_FILE is removed by the caller
    text = _text(raw)
    return Secret(text) if text else None


def as_duration_opt(raw: Any) -> timedelta | None:
    text = _text(raw, numbers=True).strip()
    if not text or text.lower() in {"none", "never", "off"}:
        return None
    try:
        delta = parse_duration(text)
    except OverflowError:
        delta = timedelta.max
    if delta.total_seconds() <= 0:
        raise ValueError(f"must be positive, got {brief(raw)}")
    if delta > _LONGEST:
        raise ValueError(f"at most 100 years (36525d), got {brief(raw)}")
    return delta


def as_duration(raw: Any) -> timedelta:
    delta = as_duration_opt(raw)
    if delta is None:
        raise ValueError("a duration is required")
    return delta


def as_min_keep(raw: Any) -> int | None:
    if isinstance(raw, str) and raw.strip().lower() == "all":
        return None
    return as_int(raw)


def as_opt_int(raw: Any) -> int | None:
    if isinstance(raw, str) and raw.strip() == "":
        return None
    return as_int(raw, minimum=1)


def as_port(raw: Any) -> int | None:
    if isinstance(raw, str) and raw.strip() == "":
        return None
    port = as_int(raw, minimum=1)
    if port > 65535:
        raise ValueError(f"not a TCP port: {port}")
    return port


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = _text(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {brief(raw)}")
        return text

    return parse


def as_positive(raw: Any) -> int:
    return as_int(raw, minimum=1)


def as_level(raw: Any) -> int:
    level = as_int(raw, minimum=1)
    if level > 22:
        raise ValueError(f"zstd levels go from 1 to 22, got {level}")
    return level


def as_part_size(raw: Any) -> int:
    size = as_int(raw, minimum=5)  # S3's minimum part size is 5 MiB
    if size > 5 * 1024:
        raise ValueError(f"S3 parts are at most 5 GiB, got {size} MiB")
    return size


def as_mark_age(raw: Any) -> timedelta:
    age = as_duration(raw)
    if age < timedelta(seconds=3):  # S3 stamps times to the second: shorter cannot be judged
        raise ValueError(f"must be at least 3s, got {brief(raw)}")
    return age
