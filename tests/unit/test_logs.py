"""Log lines go to the stderr of the moment, one line per event."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pgback.logs import setup_logging


def test_logging_follows_stderr_when_it_is_replaced_after_setup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    setup_logging("text", "info")
    first.close()  # e.g. a test's captured stream, closed when the test ended
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)

    logging.getLogger("pgback.test").info("set %s started", "20250101T000000Z")

    (line,) = second.getvalue().splitlines()
    assert line.endswith(" INFO set 20250101T000000Z started")


def test_json_logs_are_one_object_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    setup_logging("json", "info")

    logging.getLogger("pgback.test").warning("disk %s", "full\nagain")

    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["message"] == "disk full\nagain"
    assert json.loads(line)["level"] == "warning"
