"""Logging: one line per event, as text or JSON (for log collectors)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from pgback.text import printable


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # one line per event: a newline in a path or a name given cannot forge another line
        return f"{stamp} {record.levelname} {printable(record.getMessage())}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(),
                "message": record.getMessage(),
                "logger": record.name,
            },
            ensure_ascii=False,
        )


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever sys.stderr is when the event happens, not when logging was set up:
    a stream replaced or closed since (a test's capture, a redirect) must not break logging."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = _StderrHandler()
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger("pgback")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # boto3 and friends stay quiet: their debug output can carry request details
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
