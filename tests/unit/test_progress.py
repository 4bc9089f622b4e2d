"""Progress lines: on a terminal when asked, never in logs."""

from __future__ import annotations

import io

import pytest

from pgback.progress import Progress, human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (5 * 1024**2 + 1, "5.0 MiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_human_size_bytes_are_shown_in_binary_units(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_progress_enabled_draws_bytes_and_rate_on_one_line() -> None:
    stream = io.StringIO()
    progress = Progress("uploading", enabled=True, stream=stream)

    progress.add(3 * 1024 * 1024)
    progress.done()

    text = stream.getvalue()
    assert text.startswith("\ruploading: 3.0 MiB at ") and text.endswith("/s   \n")
    assert progress.total == 3 * 1024 * 1024


def test_progress_disabled_writes_nothing_but_still_counts() -> None:
    stream = io.StringIO()
    progress = Progress("uploading", enabled=False, stream=stream)

    progress.add(10)
    progress.done()

    assert stream.getvalue() == "" and progress.total == 10


@pytest.mark.parametrize(("mode", "enabled"), [("always", True), ("never", False), ("auto", False)])
def test_progress_for_mode_output_not_a_terminal_is_quiet_unless_always(
    mode: str, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())  # a log file, not a terminal

    assert Progress.for_mode("x", mode).enabled is enabled
