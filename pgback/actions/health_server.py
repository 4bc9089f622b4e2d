"""The sidecar's HTTP listener: /healthz (200 or 503, one line) and /metrics (Prometheus text),
both read from the status file `serve` writes."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pgback import __version__
from pgback.actions.drill_status import drill_metrics, read_drill_status
from pgback.actions.health import check_health, render_metrics, server_verdicts
from pgback.actions.status import read_status
from pgback.config import Settings
from pgback.errors import PgbackError

log = logging.getLogger("pgback.serve")

Clock = Callable[[], datetime]


class HealthServer:
    """The listener, in a daemon thread."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        host, port = parse_listen(settings.health_listen or "")
        handler = _handler_class(settings, clock)
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        try:
            self.httpd = server_class((host, port), handler)
        except OSError as exc:
            raise PgbackError(
                f"health_listen {settings.health_listen}: cannot listen: {exc.strerror}"
            ) from None
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="pgback-health", daemon=True
        )

    @classmethod
    def start(cls, settings: Settings, clock: Clock) -> HealthServer:
        server = cls(settings, clock)
        server._thread.start()
        host, port = server.address
        log.info("health endpoint on http://%s:%d/healthz and /metrics", host, port)
        return server

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (all interfaces) or `[::]:PORT` -> (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def _handler_class(settings: Settings, clock: Clock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"pgback/{__version__}"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                ok, message = check_health(settings, now=clock())
                self._reply(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, message)
            elif path == "/metrics":
                self._reply(HTTPStatus.OK, _metrics_text(settings, clock()), _METRICS_TYPE)
            else:
                self._reply(HTTPStatus.NOT_FOUND, "not found: try /healthz or /metrics")

        def _reply(self, code: HTTPStatus, text: str, ctype: str = "text/plain") -> None:
            body = (text.rstrip("\n") + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # probes hit this every few seconds: keep them out of the one-line-per-event log
            log.debug("health endpoint: " + format, *args)

    return Handler


_METRICS_TYPE = "text/plain; version=0.0.4"


def _metrics_text(settings: Settings, now: datetime) -> str:
    try:
        status = read_status(settings)
    except PgbackError:
        status = None
    if status is not None and status.servers:
        verdicts = server_verdicts(status, settings, now)
        text = render_metrics(status, {name: v.ok for name, v in verdicts.items()})
    else:
        ok, _ = check_health(settings, now=now)
        text = render_metrics(status, ok)
    return text + _drill_metrics_text(settings)


def _drill_metrics_text(settings: Settings) -> str:
    try:
        drills = drill_metrics(read_drill_status(settings))
    except PgbackError:
        return ""
    lines = []
    for name, kind, help_text, value in drills:
        shown = f"{value:.3f}".rstrip("0").rstrip(".")
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {shown}"]
    return "\n".join(lines) + "\n" if lines else ""
