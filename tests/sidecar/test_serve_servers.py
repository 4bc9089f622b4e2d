"""`serve` with several servers (real PostgreSQL, real S3, a real ping receiver): each fire
backs them up in turn, one failing does not stop the others, and the status file, health,
/metrics and pings report per server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgback.actions.context import utc_now
from pgback.actions.health import check_health, render_metrics, server_verdicts
from pgback.actions.serve import EXIT_STOPPED, serve_loop
from pgback.actions.status import read_status, status_path
from pgback.testbed.clock import VirtualClock
from pgback.testbed.ports import free_port

from .conftest import Bed, WebhookReceiver

pytestmark = pytest.mark.integration


def test_serve_loop_two_servers_one_unreachable_reports_each_apart(
    bed: Bed, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = tmp_path / "pgback.toml"
    config.write_text(
        f"""
[[servers]]
name = "billing"
ping_url = "{receiver.base}/ping/billing"
[[servers]]
name = "auth"
port = {free_port()}
ping_url = "{receiver.base}/ping/auth"
"""
    )
    settings = bed.settings(
        PGBACK_CONFIG=str(config),
        PGBACK_UPLOAD_PREFIX="fleet",
        PGBACK_RUN_ON_START="true",
        PGBACK_DISABLE_CRON="true",
    )
    clock = VirtualClock()

    code = serve_loop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    assert code == EXIT_STOPPED
    assert receiver.paths() == [
        "/ping/billing/start",
        "/ping/billing",
        "/ping/auth/start",
        "/ping/auth/fail",
    ]
    (manifest,) = bed.manifests()
    assert manifest.startswith("fleet/billing/")
    status = read_status(settings)
    assert status is not None
    billing, auth = status.servers["billing"], status.servers["auth"]
    assert billing.last_success is not None and billing.consecutive_failures == 0
    assert auth.last_success is None and auth.consecutive_failures == 1
    assert auth.last_run is not None and "connect" in (auth.last_run.error or "").lower()
    assert status.last_run is None  # with servers, runs are kept per server only

    ok, message = check_health(settings)
    assert not ok
    assert message.startswith("unhealthy: auth: last backup failed ")
    verdicts = server_verdicts(status, settings, utc_now())
    metrics = render_metrics(status, {name: v.ok for name, v in verdicts.items()})
    for line in (
        "pgback_up 1",
        'pgback_healthy{server="billing"} 1',
        'pgback_healthy{server="auth"} 0',
        'pgback_last_run_success{server="billing"} 1',
        'pgback_last_run_success{server="auth"} 0',
        'pgback_failures_total{server="auth"} 1',
        'pgback_ping_failures_total{server="billing"} 0',
    ):
        assert line in metrics.splitlines(), line
    written = json.loads(status_path(settings).read_text())
    assert set(written["servers"]) == {"billing", "auth"}
    assert written["servers"]["auth"]["consecutive_failures"] == 1
