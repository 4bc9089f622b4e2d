"""Durations as users write them in purge_older_than and health_max_age."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgback.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60s", timedelta(seconds=60)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5d", timedelta(hours=36)),
        (" 12H ", timedelta(hours=12)),
    ],
)
def test_parse_duration_with_units_gives_that_span(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "days"), [("7", 7), ("30", 30), ("0.5", 0.5)])
def test_parse_duration_bare_number_means_days_as_in_pg_back(text: str, days: float) -> None:
    assert parse_duration(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "  ", "abc", "12x", "-5d", "1h 30m", "d", "1e3s", "30 days"])
def test_parse_duration_bad_input_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)

    message = str(caught.value)
    assert repr(text) in message
    for example in ("60s", "12h", "30d", "number of days"):
        assert example in message


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(days=2, hours=3, minutes=4), "2d 3h"),
        (timedelta(hours=1, seconds=5), "1h 5s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_duration_any_span_shows_two_largest_units(delta: timedelta, shown: str) -> None:
    assert format_duration(delta) == shown
