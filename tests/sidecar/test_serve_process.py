"""`pgback serve` as a real process against real servers: signals, the lock, seed variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyrage
import pytest

from pgback.actions.serve import EXIT_ABORTED, EXIT_STOPPED
from pgback.errors import LockedError
from pgback.testbed.ports import free_port

from .conftest import Bed, WebhookReceiver, clean_environ

pytestmark = pytest.mark.integration

NEVER = "0 0 1 1 *"  # the schedule's next time is months away: only run_on_start runs


class Serve:
    """A `python -m pgback serve` child whose log lines are collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pgback", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, what: str | Callable[[], bool], timeout: float = 60) -> None:
        check = what if callable(what) else lambda: any(what in line for line in self.lines)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what!r}; serve log:\n{self.log}")

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took to exit)."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        return code, time.monotonic() - began


@contextmanager
def serve(env: dict[str, str]) -> Iterator[Serve]:
    child = Serve(env)
    try:
        yield child
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


def slow_backup_env(bed: Bed, big_db: str, **extra: str) -> dict[str, str]:
    """A backup that runs long enough to be interrupted: zstd level 12 compresses about 18 MB/s
    here, so the 157 MB dump takes about 9 s while its first 5 MiB part is sent within 1 s."""
    return bed.env(
        PGBACK_BACKUP_CRON=NEVER,
        PGBACK_RUN_ON_START="true",
        PGBACK_INCLUDE_DBS=big_db,
        PGBACK_COMPRESS_LEVEL="12",
        PGBACK_S3_PART_SIZE_MIB="5",
        **extra,
    )


def test_serve_sigterm_during_backup_aborts_without_leaving_a_set(
    bed: Bed, big_db: str, receiver: WebhookReceiver
) -> None:
    env = slow_backup_env(
        bed,
        big_db,
        PGBACK_STOP_GRACE_PERIOD="1s",
        PGBACK_WEBHOOK_URL=receiver.url,
        PGBACK_POST_BACKUP_HOOK=f"{sys.executable},-c,print(1)",
    )
    with serve(env) as child:
        # a multipart upload in flight proves the dump is streaming into S3
        child.wait_for(lambda: bool(bed.multipart_uploads()))

        code, took = child.terminate()

    assert code == EXIT_ABORTED, child.log
    assert took < 15, child.log
    assert bed.manifests() == []
    assert bed.keys() == []  # the partial objects were removed too
    assert bed.multipart_uploads() == []
    status = json.loads((bed.state_dir / "status.json").read_text())
    assert status["state"] == "stopped"
    assert status["last_run"]["success"] is False
    assert status["last_run"]["error"] == "cancelled: the sidecar was stopped"
    assert "cancelling the running backup" in child.log
    # whoever watches the webhook learns that the scheduled backup did not happen
    (failure,) = receiver.bodies
    assert failure["event"] == "backup.failure"
    assert failure["error"] == "cancelled: the sidecar was stopped"
    assert "post-backup hook not run: the sidecar is stopping" in child.log


def test_serve_sigterm_within_grace_period_lets_backup_finish(bed: Bed, big_db: str) -> None:
    env = bed.env(
        PGBACK_BACKUP_CRON=NEVER,
        PGBACK_RUN_ON_START="true",
        PGBACK_INCLUDE_DBS=big_db,  # a few seconds at the default level: shorter than the grace
        PGBACK_S3_PART_SIZE_MIB="5",
        PGBACK_STOP_GRACE_PERIOD="60s",
    )
    with serve(env) as child:
        # the database's upload is in flight ("dumping database ... done" comes at its end)
        child.wait_for(lambda: bool(bed.multipart_uploads()))

        code, _ = child.terminate(timeout=60)

    assert code == EXIT_STOPPED, child.log
    assert "stop requested: the running backup has 1m to finish" in child.log
    assert len(bed.manifests()) == 1
    assert bed.multipart_uploads() == []


def test_manual_backup_while_serve_runs_is_refused_with_exit_8(bed: Bed, big_db: str) -> None:
    env = slow_backup_env(bed, big_db, PGBACK_STOP_GRACE_PERIOD="1s")
    with serve(env) as child:
        child.wait_for("dumping globals")  # the lock is taken before anything is dumped

        manual = subprocess.run(
            [sys.executable, "-m", "pgback", "backup"],
            env={**env, "PGBACK_INCLUDE_DBS": "small"},
            capture_output=True,
            text=True,
            timeout=60,
        )

        code, _ = child.terminate()

    assert manual.returncode == LockedError.exit_code == 8
    assert "another backup is running" in manual.stderr
    assert f"held by pid {child.proc.pid}" in manual.stderr
    assert code == EXIT_ABORTED


def test_serve_with_seed_variable_names_backs_up_and_reports_healthy(
    bed: Bed, tmp_path: Path
) -> None:
    """A drop-in for the seed's pg_back container: its variable names, nothing else."""
    identity = pyrage.x25519.Identity.generate()
    port = free_port()
    env = {
        **clean_environ(),
        "POSTGRES_HOST": bed.pg.host,
        "POSTGRES_PORT": str(bed.pg.port),
        "POSTGRES_USER": bed.pg.user,
        "POSTGRES_PASSWORD": bed.pg.password,
        "POSTGRES_DB": "postgres",
        "BACKUP_CRON": NEVER,
        "ENCRYPT": "true",
        "AGE_CIPHER_PUBLIC_KEY": str(identity.to_public()),
        "UPLOAD_PREFIX": "foobar",
        "PURGE_OLDER_THAN": "60s",
        "S3_BUCKET": bed.bucket,
        "S3_ENDPOINT": bed.s3.endpoint_url,
        "S3_REGION": bed.s3.region,
        "S3_KEY_ID": bed.s3.access_key,
        "S3_SECRET": bed.s3.secret_key,
        "S3_FORCE_PATH": "true",
        "INCLUDE_DBS": "small",
        # pgback's own, no seed equivalent: where the matching client tools are, the status
        # file, the start-up run and the HTTP listener
        "PGBACK_PG_BIN_DIR": str(bed.pg.bindir),
        "PGBACK_STATE_DIR": str(bed.state_dir),
        "PGBACK_RUN_ON_START": "true",
        "PGBACK_HEALTH_LISTEN": f"127.0.0.1:{port}",
    }
    with serve(env) as child:
        child.wait_for("backup succeeded")
        health = subprocess.run(
            [sys.executable, "-m", "pgback", "health"], env=env, capture_output=True, text=True
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            healthz = answer.status, answer.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            metrics = answer.read().decode()

        code, took = child.terminate()

    assert code == EXIT_STOPPED, child.log
    assert took < 10
    keys = bed.keys("foobar/")
    assert len([k for k in keys if k.endswith("/manifest.json")]) == 1
    assert all(k.endswith((".age", "manifest.json")) for k in keys)
    assert health.returncode == 0, health.stdout + health.stderr
    assert health.stdout.startswith("ok: last backup")
    assert healthz[0] == 200
    assert "pgback_sets_kept 1" in metrics.splitlines()
    assert bed.pg.password not in child.log
    assert "serve started" in child.log


def test_serve_without_cron_exits_2_with_the_fix(bed: Bed) -> None:
    env = bed.env()
    env.pop("PGBACK_BACKUP_CRON", None)

    done = subprocess.run(
        [sys.executable, "-m", "pgback", "serve"], env=env, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert "BACKUP_CRON" in done.stderr
    assert "disable_cron" in done.stderr


def test_serve_cron_disabled_idles_then_exits_0_on_sigterm(bed: Bed) -> None:
    env = bed.env(DISABLE_CRON="true")
    with serve(env) as child:
        child.wait_for("cron disabled: idle until stopped")

        code, took = child.terminate()

    assert code == EXIT_STOPPED
    assert took < 10  # not the hour-long idle wait
    assert bed.keys() == []


def test_serve_sigint_while_idle_exits_0(bed: Bed) -> None:
    with serve(bed.env(PGBACK_BACKUP_CRON=NEVER)) as child:
        child.wait_for("next backup at")
        child.proc.send_signal(signal.SIGINT)
        code = child.proc.wait(timeout=10)

    assert code == EXIT_STOPPED
    assert os.path.exists(bed.state_dir / "status.json")
