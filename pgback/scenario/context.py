"""What steps share while a scenario runs: the services, the virtual clock, pgback settings."""

from __future__ import annotations

import datetime as datetime_module
import os
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun import api as freezegun_api
from freezegun import freeze_time

from pgback.config import Settings, load_settings
from pgback.scenario.providers.base import Services
from pgback.scenario.schema import Scenario

# modules that must keep the real time: request signing, timeouts, step durations. freezegun
# also fakes time.monotonic, which would turn a virtual jump into a timeout.
_REAL_TIME_MODULES = [
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "psycopg",
    "testcontainers",
    "docker",
    "requests",
    "moto",
    "subprocess",
    "selectors",
    "socket",
    "ssl",
    "http",
    "queue",
    "concurrent.futures",
    "pgback.process",
    "pgback.testbed",
    "pgback.scenario.runner",
    "pgback.scenario.providers",
]


class VirtualClock:
    """freezegun's ticking clock: time flows, and `advance` jumps it forward.

    The engine runs in this process and reads `datetime.now()`, so set ids, ages and purge
    decisions really see the jump; S3 signing and timeouts keep the real time.
    """

    def __init__(self) -> None:
        self._freezer = freeze_time(datetime.now(UTC), tick=True, ignore=_REAL_TIME_MODULES)
        self._factory: Any = None
        self._jumped = timedelta()
        self._swapped: list[types.ModuleType] = []

    def start(self) -> None:
        self._factory = self._freezer.start()
        self._swapped = _real_datetime_for(_REAL_TIME_MODULES)

    def stop(self) -> None:
        if self._factory is not None:
            for module in self._swapped:
                setattr(module, "datetime", datetime_module)  # noqa: B010
            self._swapped = []
            self._freezer.stop()
            self._factory = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def lead(self) -> timedelta:
        """How far the virtual time is ahead of the real time (the time other processes see):
        it starts at the real time and flows with it, so the jumps are the whole difference."""
        return self._jumped

    def advance(self, delta: timedelta) -> None:
        assert self._factory is not None, "clock not started"
        # from the ticking time, not freezegun's tick(): that adds the delta to the instant of
        # the last jump and drops the real time since, so time could run backwards
        self._factory.move_to(self._factory() + delta)
        self._jumped += delta


def _real_datetime_for(prefixes: list[str]) -> list[types.ModuleType]:
    """Give the real-time modules that call `datetime.datetime.now()` through the datetime
    module a copy of it holding the real classes; returns the modules changed.

    freezegun's ignore list only keeps a module's own `from datetime import datetime` real: its
    FakeDatetime.now() never consults the list, so botocore, which signs requests with
    `datetime.datetime.now()` (botocore.compat.get_current_datetime), would sign with the
    virtual time, and S3 servers that check request time (AWS, MinIO, SeaweedFS, rclone)
    refuse a signature more than 15 minutes off.
    """
    real = types.ModuleType("datetime")
    real.__dict__.update(vars(datetime_module))
    real.datetime = freezegun_api.real_datetime  # type: ignore[attr-defined]
    real.date = freezegun_api.real_date  # type: ignore[attr-defined]
    swapped = []
    for name, module in list(sys.modules.items()):
        if (
            name.startswith(tuple(prefixes))
            and getattr(module, "datetime", None) is datetime_module
        ):
            module.datetime = real  # type: ignore[attr-defined]
            swapped.append(module)
    return swapped


@dataclass
class Context:
    scenario: Scenario
    services: Services
    workdir: Path
    backend: str
    clock: VirtualClock
    identity: tuple[str, str] | None = None  # (secret identity, public recipient)
    notes: list[str] = field(default_factory=list)  # detail lines printed under the step
    values: dict[str, Any] = field(default_factory=dict)  # what steps remember (row counts...)

    @property
    def backup_side(self) -> Path:
        """Everything the backing-up process may write locally (lock, status, temp files)."""
        return self.workdir / "backup-side"

    @property
    def downloads(self) -> Path:
        return self.workdir / "downloads"

    def engine_env(
        self, overrides: dict[str, Any] | None = None, *, source: str = "postgres1"
    ) -> dict[str, str]:
        """pgback's environment for this scenario: the source server, S3, keys, then config."""
        # no pg_bin_dir: pgback picks the client tools of each server's major by itself
        env: dict[str, str] = {
            "PGBACK_STATE_DIR": str(self.backup_side / "state"),
            "PGBACK_PROGRESS": "never",
        }
        if source in self.services.postgres:
            pg = self.services.postgres[source]
            env.update(
                PGBACK_HOST=pg.host,
                PGBACK_PORT=str(pg.port),
                PGBACK_USER=pg.user,
                PGBACK_PASSWORD=pg.password,
            )
        if self.services.s3 is not None:
            s3 = self.services.s3
            env.update(
                PGBACK_S3_ENDPOINT=s3.endpoint_url,
                PGBACK_S3_KEY_ID=s3.access_key,
                PGBACK_S3_SECRET=s3.secret_key,
                PGBACK_S3_REGION=s3.region,
                PGBACK_S3_FORCE_PATH="true",
                PGBACK_S3_MAX_ATTEMPTS="2",
            )
        if self.identity is not None:
            env["PGBACK_CIPHER_PUBLIC_KEY"] = self.identity[1]
            env["PGBACK_CIPHER_PRIVATE_KEY"] = self.identity[0]
        for layer in (self.scenario.config, overrides or {}):
            for key, value in layer.items():
                env["PGBACK_" + key.upper()] = _env_value(value)
        return env

    def settings(self, overrides: dict[str, Any] | None = None) -> Settings:
        return load_settings(env=self.engine_env(overrides))

    @contextmanager
    def backup_process(self) -> Iterator[None]:
        """Run engine code as the backup side would: its temp files go under `backup_side`."""
        tmp = self.backup_side / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        saved = tempfile.tempdir
        saved_env = os.environ.get("TMPDIR")
        tempfile.tempdir = str(tmp)
        os.environ["TMPDIR"] = str(tmp)  # for child programs too
        try:
            yield
        finally:
            tempfile.tempdir = saved
            if saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_env

    def sidecar_env(self, env: dict[str, str], source: str = "postgres1") -> dict[str, str]:
        """The same settings as seen from inside the services' network (docker backend)."""
        inside = dict(env)
        inside.pop("PGBACK_PG_BIN_DIR", None)  # the image has its own client tools
        inside["PGBACK_STATE_DIR"] = "/var/lib/pgback"
        if source in self.services.internal_hosts:
            host, port = self.services.internal_hosts[source]
            inside.update(PGBACK_HOST=host, PGBACK_PORT=str(port))
        if self.services.internal_s3_endpoint:
            inside["PGBACK_S3_ENDPOINT"] = self.services.internal_s3_endpoint
        return inside

    def note(self, line: str) -> None:
        self.notes.append(line)


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
