"""The real servers the command sweep runs against: a PostgreSQL source with two small
databases, a PostgreSQL target to restore into, moto's S3 server, and complete sets made by
`pgback backup` itself (one without [[servers]], one for a server of a settings file).
Every secret is a canary (values.CANARY and the test's age identity)."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pyrage
import tomli_w

from pgback.testbed import PostgresServer, S3Server, postgres_server

from . import values as v
from .inprocess import run_pgback

DATABASES = ("small", "odd name ü")
PREFIX = "sweep"
SERVERS = ("db1", "db2")


@dataclass
class Bed:
    source: PostgresServer
    target: PostgresServer
    s3: S3Server
    bucket: str
    identity: str
    recipient: str
    workdir: Path
    set_id: str = ""
    server_set_id: str = ""
    servers_config: Path = field(default_factory=Path)

    def reset_target(self) -> None:
        """Drop what earlier cases restored, so that a good restore case restores for real."""
        for name in DATABASES:
            self.target.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @property
    def canaries(self) -> list[str]:
        return [v.CANARY, self.identity, self.source.password, self.target.password]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every case: the servers, the bucket, decryption, canaries."""
        base = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.workdir),
            "AWS_EC2_METADATA_DISABLED": "true",  # never wait for an instance profile
            "PGBACK_HOST": self.source.host,
            "PGBACK_PORT": str(self.source.port),
            "PGBACK_USER": self.source.user,
            "PGBACK_PASSWORD": self.source.password,
            "PGBACK_PG_BIN_DIR": str(self.source.bindir),
            "PGBACK_S3_BUCKET": self.bucket,
            "PGBACK_S3_ENDPOINT": self.s3.endpoint_url,
            "PGBACK_S3_REGION": self.s3.region,
            "PGBACK_S3_KEY_ID": f"key-{v.CANARY}",  # moto takes any credentials
            "PGBACK_S3_SECRET": f"secret-{v.CANARY}",
            "PGBACK_S3_FORCE_PATH": "true",
            "PGBACK_S3_MAX_ATTEMPTS": "1",
            "PGBACK_UPLOAD_PREFIX": PREFIX,
            "PGBACK_STATE_DIR": str(self.workdir / "state"),
            "PGBACK_PROGRESS": "never",
            "PGBACK_INCLUDE_DBS": ",".join(DATABASES),
            "PGBACK_ENCRYPT": "true",
            "PGBACK_CIPHER_PUBLIC_KEY": self.recipient,
            "PGBACK_CIPHER_PRIVATE_KEY": self.identity,
            # `serve` always refuses at once (a settings file cannot schedule it: env wins)
            "PGBACK_BACKUP_CRON": "",
            "PGBACK_DISABLE_CRON": "false",
        }
        return {**base, **extra}


def make_bed(s3: S3Server, workdir: Path) -> Iterator[Bed]:
    identity = pyrage.x25519.Identity.generate()
    password = f"pg pw'{v.CANARY}"
    with (
        postgres_server(password=password) as source,
        postgres_server(bindir=source.bindir, password=f"target-{v.CANARY}") as target,
    ):
        for name in DATABASES:
            source.execute(f'CREATE DATABASE "{name}"')
            source.execute(
                "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50)",
                dbname=name,
            )
        bucket = f"badinput-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(bucket)
        bed = Bed(source, target, s3, bucket, str(identity), str(identity.to_public()), workdir)
        bed.servers_config = workdir / "servers.toml"
        bed.servers_config.write_text(
            tomli_w.dumps({"servers": [{"name": name} for name in SERVERS]})
        )
        made = run_pgback(["backup"], bed.env(), workdir)
        assert made.code == 0, made.describe()
        bed.set_id = made.stdout.split()[0]
        made = run_pgback(
            ["backup", "--server", SERVERS[0], "--config", str(bed.servers_config)],
            bed.env(),
            workdir,
        )
        assert made.code == 0, made.describe()
        bed.server_set_id = made.stdout.split()[1]
        yield bed


def reaches_outside(text: str) -> bool:
    """Whether a value names a host that is not this machine: this sandbox answers TCP
    connections to any address, so a case that reached one would wait out a timeout."""
    candidates = {text.strip()}
    for form in (text, "//" + text):
        try:
            host = urlsplit(form).hostname
        except ValueError:
            continue
        if host:
            candidates.add(host)
    for candidate in candidates:
        if not candidate or len(candidate) > 253 or "\x00" in candidate:
            continue
        try:
            found = socket.getaddrinfo(candidate, None)
        except (OSError, UnicodeError, ValueError):
            continue
        for *_rest, address in found:
            ip = ipaddress.ip_address(str(address[0]).split("%")[0])
            if not (ip.is_loopback or ip.is_unspecified):
                return True
    return False
