"""Parsers for single setting values: each takes what a user wrote (env text, TOML value, a flag)
and returns the typed value or raises ValueError saying what was expected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pgback.durations import parse_duration
from pgback.secret import Secret

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def as_int(raw: Any, minimum: int = 0) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value


def as_list(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def as_str(raw: Any) -> str:
    return str(raw).strip()


def as_opt_str(raw: Any) -> str | None:
    text = str(raw).strip()
    return text or None


def as_secret(raw: Any) -> Secret | None:
    # secrets are not stripped inside: a passphrase may end with a space; a trailing
    # newline from a *_FILE is removed by the caller
    text = str(raw)
    return Secret(text) if text else None


def as_duration_opt(raw: Any) -> timedelta | None:
    text = str(raw).strip()
    if not text or text.lower() in {"none", "never", "off"}:
        return None
    delta = parse_duration(text)
    if delta.total_seconds() <= 0:
        raise ValueError(f"must be positive, got {raw!r}")
    return delta


def as_duration(raw: Any) -> timedelta:
    delta = as_duration_opt(raw)
    if delta is None:
        raise ValueError("a duration is required")
    return delta


def as_min_keep(raw: Any) -> int | None:
    if str(raw).strip().lower() == "all":
        return None
    return as_int(raw)


def as_opt_int(raw: Any) -> int | None:
    if str(raw).strip() == "":
        return None
    return as_int(raw, minimum=1)


def as_port(raw: Any) -> int | None:
    if str(raw).strip() == "":
        return None
    port = as_int(raw, minimum=1)
    if port > 65535:
        raise ValueError(f"not a TCP port: {port}")
    return port


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
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
        raise ValueError(f"must be at least 3s, got {raw!r}")
    return age
