"""Throwaway S3 endpoints: a server process on loopback; moto's server mode by default.

`S3Process` is what every kind shares (ports, start with retries, readiness probe, log tail,
clients); `S3Server` is moto; pgback/testbed/seaweedfs.py and rclone.py add the others.

A subprocess (not moto's in-process decorators) so a test can stop or kill the endpoint in the
middle of an upload, exactly as a real network outage would look to boto3.

moto keeps everything in memory: stopping or killing the process loses every bucket and object,
and start() after that serves an empty S3 on the same port. It also holds whole objects in RAM
(about 2.5x the object size while uploading), so keep large-object tests on a disk-backed server.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias

import boto3
from botocore.config import Config

from pgback.testbed.common import (
    LIVE,
    TestbedError,
    file_size,
    read_from,
    started,
    tail,
    tmp_root,
    with_log,
)
from pgback.testbed.ports import LOOPBACK, free_port

__all__ = ["S3Client", "S3Process", "S3Server", "list_keys", "s3_client", "s3_server"]

# boto3's client type comes from the mypy_boto3_s3 stubs, which are not installable everywhere;
# without them boto3.client() is typed Any anyway. The alias names the intent.
S3Client: TypeAlias = Any

START_ATTEMPTS = 5
# Python's and Go's wording differ only in case
_PORT_TAKEN = "address already in use"


def s3_client(
    endpoint_url: str, access_key: str, secret_key: str, region: str, config: Config | None = None
) -> S3Client:
    """A boto3 client for a test endpoint, path-style (no bucket DNS names on loopback);
    `config` is merged over the defaults."""
    settings = Config(s3={"addressing_style": "path"})
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=settings.merge(config) if config is not None else settings,
    )


def list_keys(client: S3Client, bucket: str, prefix: str = "") -> list[str]:
    """Every key under prefix, in S3's (lexicographic) order."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


class S3Process:
    """One S3 server process. Nothing runs until start(). Subclasses say how to spawn it."""

    host: str = LOOPBACK
    kind: str = "s3"
    log_name: str = "s3.log"
    # a fresh start after a stop serves nothing of before (moto keeps objects in memory)
    volatile: bool = True
    # moto accepts any credentials; servers that check them get their own
    default_access_key: str = "testing"
    default_secret_key: str = "testing"
    stop_timeout: float = 10.0

    def __init__(
        self,
        *,
        port: int | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        start_timeout: float = 30.0,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.access_key = access_key or self.default_access_key
        self.secret_key = secret_key or self.default_secret_key
        self.region = region
        self.start_timeout = start_timeout
        self._port_fixed = port is not None
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url}, running={self.is_running()})"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise TestbedError("the S3 server has no working directory: call start() first")
        return self._workdir / self.log_name

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # --- clients ----------------------------------------------------------------------------

    def client(self, config: Config | None = None) -> S3Client:
        """A boto3 S3 client for this endpoint, path-style (no bucket DNS names on loopback).

        `config` is merged over the defaults, e.g. Config(retries={"max_attempts": 1}).
        """
        return s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region, config)

    def env(self) -> dict[str, str]:
        """AWS variables that point a child process's boto3 at this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def create_bucket(self, name: str) -> None:
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        if self.region == "us-east-1":
            self.client().create_bucket(Bucket=name)
        else:
            self.client().create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region}
            )

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under prefix, in S3's (lexicographic) order."""
        return list_keys(self.client(), bucket, prefix)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server (again on the same port after stop/kill) and wait for HTTP."""
        if self.is_running():
            return
        LIVE.add(self)
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="pgback-s3-", dir=tmp_root()))
        for _attempt in range(START_ATTEMPTS):
            log_offset = file_size(self.log_path)
            self._spawn()
            if self._wait_ready(log_offset):
                self._port_fixed = True
                return
            self.new_ports()  # lost a race for a port: try others
        raise TestbedError(f"no free port for the S3 server after {START_ATTEMPTS} attempts")

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after `timeout`, by default the kind's
        stop_timeout); a volatile server loses its buckets and objects."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill abruptly (SIGKILL): in-flight requests fail mid-stream, as in an outage."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def destroy(self) -> None:
        """Stop the server and remove its working directory (the log). Idempotent."""
        self.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        LIVE.discard(self)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines) if self._workdir is not None else ""

    # --- internals --------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise TestbedError("the S3 server has no working directory: call start() first")
        return self._workdir

    def argv(self) -> list[str]:
        raise NotImplementedError

    def process_env(self) -> dict[str, str]:
        return dict(os.environ)

    def new_ports(self) -> None:
        """Pick fresh ports after losing a race for one."""
        self.port = free_port()

    def ready(self) -> bool:
        """True once the server serves S3 requests (any HTTP answer, unless overridden)."""
        return _http_answers(self.host, self.port)

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.process_env(),
                cwd=self.workdir,
            )

    def _wait_ready(self, log_offset: int) -> bool:
        """True once HTTP answers; False if the port was taken; raises on any other failure."""
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if not self.is_running():
                self._process = None
                if (
                    not self._port_fixed
                    and _PORT_TAKEN in read_from(self.log_path, log_offset).lower()
                ):
                    return False
                self._fail("exited during start-up")
            if time.monotonic() > deadline:
                self.kill()
                self._fail(f"did not answer HTTP within {self.start_timeout} s")
            time.sleep(0.05)
        return True

    def _fail(self, what: str) -> None:
        message = f"{self.kind} S3 server on {self.endpoint_url} {what}"
        raise TestbedError(with_log(message, self.log_name, self.log_tail()))


class S3Server(S3Process):
    """moto's S3 server mode: the most faithful to AWS here; everything in memory."""

    kind = "moto"
    log_name = "moto.log"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def process_env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}


@contextmanager
def s3_server(*, port: int | None = None) -> Iterator[S3Server]:
    """A started S3Server, stopped and removed on exit even if the body or start fails."""
    with started(S3Server(port=port)) as server:
        yield server


def _http_answers(host: str, port: int) -> bool:
    # Any HTTP response, even an error status, means the server is serving.
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
