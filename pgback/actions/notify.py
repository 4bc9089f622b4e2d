"""The sidecar's side effects around a run: pre/post-backup hooks and the webhook.

Hooks are argv lists run through pgback.process (no shell), with our secrets removed from their
environment; they can be cancelled like the backup itself. The webhook is best effort: a short
timeout, and a failure is only logged, because a broken notification must never fail a backup.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pgback import __version__
from pgback.errors import Interrupted
from pgback.process import Child, child_env

log = logging.getLogger("pgback.serve")

WEBHOOK_TIMEOUT = 10.0  # seconds: a slow receiver must not hold up the schedule
_HOOK_POLL = 0.2  # seconds between checks of the cancel event while a hook runs


def run_hook(
    argv: Sequence[str],
    *,
    what: str,
    cancel: threading.Event,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run one hook to completion; ProcessError when it fails, Interrupted when cancelled.

    The hook's standard output goes to ours (the container log); its standard error tail is
    attached to the error when it fails.
    """
    child = Child(list(argv), env=child_env(dict(env or {})), stdout=None)
    while True:
        try:
            code = child.wait(timeout=_HOOK_POLL)
            break
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                child.kill()
                raise Interrupted(f"{what} cancelled") from None
    if code != 0:
        raise child.error(what)


def post_webhook(url: str, payload: Mapping[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> bool:
    """POST the payload as JSON; True when the receiver answered 2xx. Never raises."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "User-Agent": f"pgback/{__version__}"},
        method="POST",
    )
    where = safe_url(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(4096)
            log.info("webhook %s answered %d", where, response.status)
            return True
    except urllib.error.HTTPError as exc:
        log.warning("webhook %s failed: HTTP %d %s", where, exc.code, exc.reason)
    except urllib.error.URLError as exc:
        log.warning("webhook %s failed: %s", where, exc.reason)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.warning("webhook %s failed: %s", where, exc or type(exc).__name__)
    return False


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
