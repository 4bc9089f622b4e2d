"""What a channel is told: one run's start or end (a backup's, or a restore drill's)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

START = "start"
SUCCESS = "success"
FAILURE = "failure"


@dataclass(frozen=True)
class Event:
    """`kind` is start, success or failure; `record` the run (set id, bytes, times, the
    one-line error: never a secret); `context` where it ran (prefix, failures in a row)."""

    kind: str
    record: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    subject: str = "backup"  # what ran: a backup, or a restore drill ("drill")


def safe_url(url: str) -> str:
    """scheme://host[:port] only: webhook paths and queries often carry tokens (Slack, ntfy)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: the request fails anyway, the log stays readable
        port = ""
    return f"{parts.scheme}://{host}{port}"


def hostname() -> str:
    return socket.gethostname()
