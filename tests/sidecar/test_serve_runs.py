"""The serve loop with real backups (real PostgreSQL, real S3): cron in virtual time, hooks,
webhook, failures."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyrage
import pytest

from pgback.actions.backup import run_backup
from pgback.actions.context import utc_now
from pgback.actions.serve import EXIT_STOPPED, serve_loop
from pgback.actions.status import read_status
from pgback.testbed.clock import VirtualClock
from pgback.testbed.ports import free_port

from .conftest import Bed, WebhookReceiver

pytestmark = pytest.mark.integration


def cron_at(when: Any) -> str:
    """What the seed does: `date -u -d "now + 2 minutes" "+%M %H * * *"`."""
    return f"{when.minute} {when.hour} * * *"


def test_serve_loop_cron_two_minutes_ahead_makes_new_set_in_seconds(bed: Bed) -> None:
    """The seed's cron check, in virtual time: schedule a backup two minutes from now, wait,
    see one more set; the seed's purge (older than 60 s) removes the earlier set."""
    identity = pyrage.x25519.Identity.generate()
    settings = bed.settings(
        PGBACK_ENCRYPT="true",
        PGBACK_CIPHER_PUBLIC_KEY=str(identity.to_public()),
        PGBACK_UPLOAD_PREFIX="foobar",
        PGBACK_PURGE_OLDER_THAN="60s",
        PGBACK_BACKUP_CRON=cron_at(utc_now() + timedelta(minutes=2)),
    )
    earlier = run_backup(settings)
    clock = VirtualClock()

    code = serve_loop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    assert code == EXIT_STOPPED
    manifests = bed.manifests()
    assert len(manifests) == 1  # the earlier set is more than 60 virtual seconds old: purged
    assert earlier.set_id not in manifests[0]
    scheduled = utc_now() + clock.waited
    assert manifests[0].startswith(f"foobar/{scheduled:%Y%m%dT%H%M}")
    assert all(key.endswith((".age", "manifest.json")) for key in bed.keys("foobar/"))
    status = read_status(settings)
    assert status is not None
    assert status.last_success is not None
    assert status.sets_kept == 1


def test_serve_loop_hooks_run_as_argv_with_set_id_and_status(bed: Bed, tmp_path: Path) -> None:
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "with open(sys.argv[1], 'a') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[2:], 'env': dict(os.environ)}) + '\\n')\n"
    )
    log = tmp_path / "hooks.jsonl"
    settings = bed.settings(
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_PRE_BACKUP_HOOK=f"{sys.executable},{script},{log},pre,with space",
        PGBACK_POST_BACKUP_HOOK=f"{sys.executable},{script},{log},post",
    )
    clock = VirtualClock()

    serve_loop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    pre, post = (json.loads(line) for line in log.read_text().splitlines())
    assert pre["argv"] == ["pre", "with space"]  # argv, no shell: the space survives
    assert post["argv"] == ["post"]
    assert post["env"]["PGBACK_STATUS"] == "success"
    set_id = post["env"]["PGBACK_SET_ID"]
    assert f"{set_id}/manifest.json" in bed.manifests()
    # our secrets stay out of the hooks' environment
    leaked = [v for v in post["env"].values() if bed.pg.password in v or bed.s3.secret_key == v]
    assert leaked == []


def test_serve_loop_failing_pre_hook_fails_run_without_backup(bed: Bed) -> None:
    settings = bed.settings(
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_PRE_BACKUP_HOOK=f"{sys.executable},-c,import sys; sys.exit('no maintenance window')",
    )
    clock = VirtualClock()

    serve_loop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    status = read_status(settings)
    assert status is not None
    assert status.last_run is not None
    assert not status.last_run.success
    assert status.last_run.error is not None
    assert "pre-backup hook" in status.last_run.error
    assert "no maintenance window" in status.last_run.error
    assert bed.keys() == []


def test_serve_loop_webhook_posts_success_and_failure(bed: Bed, receiver: WebhookReceiver) -> None:
    common = {
        "PGBACK_BACKUP_CRON": "0 0 1 1 *",
        "PGBACK_RUN_ON_START": "true",
        "PGBACK_WEBHOOK_URL": receiver.url,
    }
    clock = VirtualClock()
    serve_loop(
        bed.settings(**common), clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1
    )
    broken = bed.settings(**common, PGBACK_S3_BUCKET="no-such-bucket-here")
    serve_loop(broken, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    success, failure = receiver.bodies
    assert success["event"] == "backup.success"
    assert f"{success['set_id']}/manifest.json" in bed.manifests()
    assert success["bytes"] > 0
    assert failure["event"] == "backup.failure"
    assert "no-such-bucket-here" in failure["error"]
    assert failure["consecutive_failures"] == 1


def test_serve_loop_unreachable_webhook_only_logs(
    bed: Bed, caplog: pytest.LogCaptureFixture
) -> None:
    settings = bed.settings(
        PGBACK_BACKUP_CRON="0 0 1 1 *",
        PGBACK_RUN_ON_START="true",
        PGBACK_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/secret-path?token=abc",
    )
    clock = VirtualClock()

    serve_loop(settings, clock=clock.now, wait=clock.wait, stop=clock.stop, max_runs=1)

    status = read_status(settings)
    assert status is not None
    assert status.consecutive_failures == 0
    assert "webhook http://127.0.0.1:" in caplog.text
    assert "failed" in caplog.text
    assert "secret-path" not in caplog.text
    assert "token=abc" not in caplog.text
