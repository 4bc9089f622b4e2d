"""What steps share while a scenario runs: the services, the virtual clock, pgback settings."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrage import x25519

from pgback.config import SECRET_KEYS, Settings, load_settings
from pgback.scenario.model import Scenario
from pgback.scenario.providers.base import PostgresService, Services
from pgback.scenario.registry import StepFailed
from pgback.testbed.clock import VirtualClock
from pgback.testbed.env import env_value, pgback_env


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
    config: dict[str, Any] = field(init=False)  # the scenario's config, `generate` made

    def __post_init__(self) -> None:
        self.named_secrets: dict[str, str] = {}
        # `generate` in the scenario's own config: one throwaway value for the whole run
        self.config = self.materialized(self.scenario.config)

    @property
    def backup_side(self) -> Path:
        """Everything the backing-up process may write locally (lock, status, temp files)."""
        return self.workdir / "backup-side"

    @property
    def downloads(self) -> Path:
        return self.workdir / "downloads"

    def base_env(self, *, source: str = "postgres1") -> dict[str, str]:
        """pgback's environment for this scenario's services: the source server, S3, keys."""
        # no pg_bin_dir: pgback picks the client tools of each server's major by itself
        keys: dict[str, Any] = {"state_dir": self.backup_side / "state"}
        if self.identity is not None:
            keys.update(cipher_private_key=self.identity[0], cipher_public_key=self.identity[1])
        made = pgback_env(postgres=self.services.postgres.get(source), s3=self.services.s3, **keys)
        if self.services.s3 is not None:
            return made
        # no `s3` service: the real bucket and its keys, from this process's environment (a
        # restore drill); the scenario's own state stays in its working directory
        real = {k: v for k, v in os.environ.items() if k.startswith(_STORAGE_ENV)}
        return {**real, **made}

    def materialized(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Settings with their secret stand-ins made (docs/scenarios.md): `generate` a fresh
        throwaway value, `generate:NAME` the run's one value of that name."""
        return {
            key: self.secret(key, value) if key in SECRET_KEYS else value
            for key, value in overrides.items()
        }

    def secret(self, key: str, value: Any) -> Any:
        if value == "generate":
            return _throwaway(key)
        if isinstance(value, str) and value.startswith("generate:"):
            return self.named_secrets.setdefault(f"{key}:{value}", _throwaway(key))
        return value

    def scratch(self, major: int) -> PostgresService:
        """The drill's throwaway server, started on first use, of this major (or the oldest
        newer one installed: a restore needs a server at least as new as the dump's)."""
        if "scratch" in self.services.postgres:
            return self.services.postgres["scratch"]
        if self.services.start_postgres is None:
            raise StepFailed(f"the {self.backend} backend cannot start a scratch server")
        return self.services.start_postgres("scratch", major)

    def engine_env(
        self, overrides: dict[str, Any] | None = None, *, source: str = "postgres1"
    ) -> dict[str, str]:
        """The same as the environment a user's shell would hold: the base, then the
        scenario's `config` and the step's overrides as PGBACK_* (for `pgback` steps)."""
        env = self.base_env(source=source)
        if self.scenario.settings_file is not None:
            env["PGBACK_CONFIG"] = str(self.scenario.settings_file)
        for layer in (self.config, self.materialized(overrides or {})):
            env.update({"PGBACK_" + key.upper(): env_value(v) for key, v in layer.items()})
        return env

    def settings(self, overrides: dict[str, Any] | None = None) -> Settings:
        """The engine's settings: the services from the environment, the scenario's `config`
        and the step's own settings on top, as settings (not strings parsed back)."""
        return load_settings(
            env=self.base_env(),
            config_file=self.scenario.settings_file,
            overrides={**self.config, **self.materialized(overrides or {})},
        )

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


# the settings of the bucket and its credentials a drill takes from its environment
_STORAGE_ENV = ("PGBACK_", "AWS_")


def _throwaway(key: str) -> str:
    """A fresh value for a secret: an age identity that opens nothing of ours, or a password."""
    if key == "cipher_private_key":
        return str(x25519.Identity.generate())
    return secrets.token_urlsafe(24)
