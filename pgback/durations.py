"""Durations as users write them: `60s`, `12h`, `30d`, `1h30m`; a bare number means days."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# ASCII digits: `\d` alone would read other scripts' digits (fullwidth 12 as 12 days)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ValueError naming the accepted forms."""
    raw = text.strip().lower()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", raw):
        # pg_back's purge_older_than takes a bare number of days
        return timedelta(days=float(raw))
    if not raw or _PART.sub("", raw) != "":
        raise ValueError(
            f"invalid duration {text!r}: use a number of days or units like 60s, 15m, 12h, 30d, 2w"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(raw))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Short human form, largest two units: `2d 3h`, `45s`, `-5m` for the future."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
        if len(parts) == 2:
            break
    return sign + " ".join(parts)
