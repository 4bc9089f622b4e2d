"""Dead-man pings against a real HTTP receiver: `pgback backup` alone (a CronJob) and `serve`
send start, then success or failure; an unreachable ping URL changes nothing but a warning."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from support import run_cli

from pgback.actions.health import render_metrics
from pgback.actions.serve import EXIT_STOPPED, serve_loop
from pgback.actions.status import Status, read_status
from pgback.notify import FAILURE, START, SUCCESS, Event
from pgback.notify.ping import ping_target
from pgback.testbed.clock import VirtualClock
from pgback.testbed.ports import free_port

from .conftest import Bed, WebhookReceiver

CHECK = "/ping/0c7a4b46-6f47-4d1c-a1a3-2f4a2b6e3d11"


@pytest.mark.integration
def test_backup_command_pings_start_then_success_with_set_id_and_size(
    bed: Bed, receiver: WebhookReceiver
) -> None:
    done = run_cli(bed.env(PGBACK_PING_URL=receiver.base + CHECK), "backup")

    assert done.returncode == 0, done.stderr
    set_id = done.stdout.split()[0]
    assert receiver.paths() == [f"{CHECK}/start", CHECK]
    (_, _, start), (method, _, success) = receiver.requests
    assert method == "POST"
    assert start == "pgback backup started"
    assert success.startswith(f"pgback backup {set_id} complete: ")
    assert " KiB in " in success or " MiB in " in success


@pytest.mark.integration
def test_backup_command_against_unreachable_server_pings_start_then_fail_with_the_error(
    bed: Bed, receiver: WebhookReceiver
) -> None:
    env = bed.env(PGBACK_PING_URL=receiver.base + CHECK, PGBACK_PORT=str(free_port()))

    done = run_cli(env, "backup")

    assert done.returncode == 5, done.stderr  # PostgreSQL unreachable
    assert receiver.paths() == [f"{CHECK}/start", f"{CHECK}/fail"]
    failure = receiver.requests[1][2]
    assert failure.startswith("pgback backup failed: ")
    assert "connect" in failure.lower()
    assert bed.pg.password not in failure and bed.s3.secret_key not in failure
    assert "\n" not in failure
    assert bed.manifests() == []


@pytest.mark.integration
def test_backup_command_with_unreachable_ping_url_warns_and_still_succeeds(bed: Bed) -> None:
    closed = f"http://127.0.0.1:{free_port()}{CHECK}"

    done = run_cli(bed.env(PGBACK_PING_URL=closed), "backup")

    assert done.returncode == 0, done.stderr
    assert len(bed.manifests()) == 1
    warnings = [line for line in done.stderr.splitlines() if "not delivered" in line]
    assert len(warnings) == 2  # start and success, each after its attempts
    assert "3 attempt(s)" in warnings[0]
    assert CHECK.split("/")[-1] not in done.stderr  # the check's UUID is its secret


@pytest.mark.integration
def test_serve_loop_pings_start_and_success_and_counts_undeliverable_pings(
    bed: Bed, receiver: WebhookReceiver
) -> None:
    good = bed.settings(
        PGBACK_RUN_ON_START="true",
        PGBACK_DISABLE_CRON="true",
        PGBACK_PING_URL=receiver.base + CHECK,
    )
    clock = VirtualClock()

    code = serve_loop(good, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    assert code == EXIT_STOPPED
    assert receiver.paths() == [f"{CHECK}/start", CHECK]
    status = read_status(good)
    assert status is not None and status.ping_failures_total == 0

    lost = bed.settings(
        PGBACK_RUN_ON_START="true",
        PGBACK_DISABLE_CRON="true",
        PGBACK_PING_URL=f"http://127.0.0.1:{free_port()}{CHECK}",
    )
    clock = VirtualClock()
    code = serve_loop(lost, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    assert code == EXIT_STOPPED
    status = read_status(lost)
    assert status is not None
    assert status.last_run is not None and status.last_run.success
    assert status.ping_failures_total == 2
    assert "pgback_ping_failures_total 2\n" in render_metrics(status, healthy=True)


def test_serve_without_ping_url_keeps_the_status_file_and_metrics_as_they_were() -> None:
    status = Status()

    assert "ping_failures_total" not in status.to_json()
    assert "pgback_ping_failures_total" not in render_metrics(status, healthy=True)


SUCCESS_EVENT = Event(
    SUCCESS, {"set_id": "20261201T030000Z", "bytes": 2048, "duration_seconds": 3.2}
)


@pytest.mark.parametrize(
    ("style", "kind", "path", "query"),
    [
        ("healthchecks", START, "/ping/abc/start", {}),
        ("healthchecks", SUCCESS, "/ping/abc", {}),
        ("healthchecks", FAILURE, "/ping/abc/fail", {}),
        ("cronitor", START, "/ping/abc", {"state": ["run"]}),
        ("cronitor", SUCCESS, "/ping/abc", {"state": ["complete"]}),
        ("cronitor", FAILURE, "/ping/abc", {"state": ["fail"]}),
        ("uptime-kuma", SUCCESS, "/ping/abc", {"status": ["up"], "ping": ["3200"]}),
        ("uptime-kuma", FAILURE, "/ping/abc", {"status": ["down"]}),
    ],
)
def test_ping_target_spells_each_event_in_the_monitor_style(
    style: str, kind: str, path: str, query: dict[str, list[str]]
) -> None:
    record = SUCCESS_EVENT.record if kind == SUCCESS else {"error": "disk full"}

    target = ping_target(
        "https://mon.example/ping/abc?status=up&msg=OK", style, Event(kind, record)
    )

    assert target is not None
    parts = urlsplit(target)
    assert parts.path == path
    found = parse_qs(parts.query)
    for name, values in query.items():
        assert found[name] == values
    if style == "uptime-kuma":
        assert found["msg"][0] != "OK"  # Kuma's sample query is replaced, not repeated
        assert len(found["status"]) == 1


def test_ping_target_uptime_kuma_has_no_start_event() -> None:
    assert ping_target("https://kuma/api/push/tok", "uptime-kuma", Event(START)) is None
