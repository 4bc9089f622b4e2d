"""The dead-man ping channel (`ping_url`): a request when a backup starts, succeeds or fails, so
a monitor (healthchecks.io, Cronitor, Uptime Kuma) raises the alarm when backups stop coming.

`ping_style` says how the three events are spelled:
- `healthchecks` (default): `<url>/start`, `<url>`, `<url>/fail`;
- `cronitor`: `<url>?state=run|complete|fail&message=...`;
- `uptime-kuma`: `<url>?status=up|down&msg=...&ping=<ms>` (a push monitor has no start).

The body (POST) is one short line of plain text: the set id, its size and the duration, or the
one-line error (already masked: never a secret). The URL itself often is one (a check's UUID,
Cronitor's API key): logs name only its scheme and host. Bounded: a short timeout per attempt
and a few attempts; an undeliverable ping is a warning, never a failed backup.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pgback import __version__
from pgback.durations import format_duration
from pgback.notify.event import FAILURE, START, SUCCESS, Event, safe_url
from pgback.progress import human_size

log = logging.getLogger("pgback.notify")

PING_TIMEOUT = 10.0  # seconds per attempt
PING_ATTEMPTS = 3
PING_BACKOFF = 0.5  # seconds before the second attempt, doubled before each next one
MAX_MESSAGE = 1000  # characters: monitors keep short messages (Cronitor: 2000)

HEALTHCHECKS = "healthchecks"
CRONITOR = "cronitor"
UPTIME_KUMA = "uptime-kuma"
STYLES = (HEALTHCHECKS, CRONITOR, UPTIME_KUMA)

_SUFFIX = {START: "/start", SUCCESS: "", FAILURE: "/fail"}
_CRONITOR_STATE = {START: "run", SUCCESS: "complete", FAILURE: "fail"}
_KUMA_STATUS = {SUCCESS: "up", FAILURE: "down"}


def message(event: Event) -> str:
    """The one line a monitor shows for this event."""
    record = event.record
    server = event.context.get("server")
    where = f" (server {server})" if server else ""
    if event.kind == START:
        text = f"pgback backup started{where}"
    elif event.kind == SUCCESS:
        size = human_size(int(record.get("bytes") or 0))
        took = format_duration_seconds(record.get("duration_seconds"))
        text = f"pgback backup {record.get('set_id')} complete{where}: {size} in {took}"
    else:
        text = f"pgback backup failed{where}: {record.get('error') or 'unknown error'}"
    return text[:MAX_MESSAGE]


def format_duration_seconds(seconds: object) -> str:
    try:
        return format_duration(timedelta(seconds=round(float(str(seconds)))))
    except ValueError:
        return "an unknown time"


def ping_target(url: str, style: str, event: Event) -> str | None:
    """The URL to request for this event in this style; None when the style has no such event."""
    if style == HEALTHCHECKS:
        parts = urlsplit(url)
        path = parts.path.rstrip("/") + _SUFFIX[event.kind]
        return urlunsplit(parts._replace(path=path))
    if style == CRONITOR:
        return _with_query(url, {"state": _CRONITOR_STATE[event.kind], "message": message(event)})
    if event.kind not in _KUMA_STATUS:
        return None
    query = {"status": _KUMA_STATUS[event.kind], "msg": message(event)}
    duration = event.record.get("duration_seconds")
    if duration is not None:
        query["ping"] = str(round(float(duration) * 1000))
    return _with_query(url, query)


def _with_query(url: str, values: dict[str, str]) -> str:
    """The URL with these query parameters set (replacing the same names already in it)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    return urlunsplit(parts._replace(query=urlencode([*kept, *values.items()])))


class PingChannel:
    name = "ping"

    def __init__(self, url: str, method: str = "post", style: str = HEALTHCHECKS) -> None:
        self.url = url
        self.method = method.upper()
        self.style = style

    def send(self, event: Event, timeout: float | None = None) -> bool:
        if event.subject != "backup":
            return True  # the check watches backups; a drill reports through the webhook
        target = ping_target(self.url, self.style, event)
        if target is None:
            return True  # nothing to say in this style (an Uptime Kuma push has no start)
        body = message(event).encode() if self.method == "POST" else None
        # a caller in a hurry (a stopping sidecar) gets one attempt within its timeout
        attempts = 1 if timeout is not None else PING_ATTEMPTS
        where = safe_url(self.url)
        problem = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(PING_BACKOFF * 2 ** (attempt - 1))
            problem, retry = _request(target, self.method, body, timeout or PING_TIMEOUT)
            if not problem:
                log.info("ping %s: %s delivered", where, event.kind)
                return True
            if not retry:
                break
        log.warning(
            "ping %s: %s not delivered after %d attempt(s): %s (the backup is not affected)",
            where,
            event.kind,
            attempt + 1,
            problem,
        )
        return False


def _request(url: str, method: str, body: bytes | None, timeout: float) -> tuple[str, bool]:
    """('', _) when delivered; else (what went wrong, whether another attempt may help)."""
    headers = {"User-Agent": f"pgback/{__version__}"}
    if body is not None:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(4096)
            return "", False
    except urllib.error.HTTPError as exc:
        # the monitor answered: a 4xx will not change on retry (wrong URL), a 5xx or 429 may
        return f"HTTP {exc.code} {exc.reason}", exc.code >= 500 or exc.code == 429
    except urllib.error.URLError as exc:
        return str(exc.reason), True
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return str(exc) or type(exc).__name__, True
