"""The webhook channel: a JSON POST after each run (`webhook_url`).

Best effort: a short timeout, and a failure is only logged, because a broken notification must
never fail a backup.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from pgback import __version__
from pgback.notify.event import Event, hostname, safe_url

log = logging.getLogger("pgback.notify")

WEBHOOK_TIMEOUT = 10.0  # seconds: a slow receiver must not hold up the schedule


class WebhookChannel:
    """`backup.success`, `backup.failure` (and `drill.*`) events as JSON; nothing at a start."""

    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, event: Event, timeout: float | None = None) -> bool:
        if event.kind == "start":
            return True
        payload = {
            "event": f"{event.subject}.{event.kind}",
            "host": hostname(),
            "tool_version": __version__,
            **event.context,
            **event.record,
        }
        return post_webhook(self.url, payload, timeout=timeout or WEBHOOK_TIMEOUT)


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
