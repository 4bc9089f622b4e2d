"""Pieces shared by the throwaway servers: the error type, temp locations, log tails."""

from __future__ import annotations

import atexit
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

# Overrides where throwaway servers keep their files. It must be traversable by the unprivileged
# user PostgreSQL runs as, which is why the default is /tmp and not tempfile.gettempdir() (a
# TMPDIR under /root would hide the data directory from that user).
ENV_TMPDIR = "PGBACK_TESTBED_TMPDIR"


class TestbedError(RuntimeError):
    """A throwaway server could not be found, started, stopped or cleaned up.

    Defined here rather than in the engine's error module: the test bed must stay importable on
    its own, and the engine must never import the test bed.
    """

    # pytest would otherwise try to collect this class (its name starts with "Test").
    __test__ = False


def tmp_root() -> Path:
    """The directory under which throwaway servers create their working directories."""
    return Path(os.environ.get(ENV_TMPDIR, "/tmp"))


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a text file, or "" when it does not exist (yet or any more)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


def file_size(path: Path) -> int:
    """Size of a file, 0 if it does not exist: where a fresh attempt's log output begins."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: Path, offset: int) -> str:
    """A log file's text from a byte offset on (what one start attempt wrote)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def with_log(message: str, log_name: str, log_tail: str) -> str:
    """An error message with the server log's tail attached, so a failure explains itself."""
    if not log_tail.strip():
        return f"{message}\n(--- {log_name} is empty ---)"
    return f"{message}\n--- last lines of {log_name} ---\n{log_tail.rstrip()}"


class Server(Protocol):
    def start(self) -> None: ...

    def destroy(self) -> None: ...


S = TypeVar("S", bound=Server)

# Servers started and not yet destroyed: removed at interpreter exit, so an aborted test run
# (or a fixture that forgot) leaves no postmaster or moto process behind.
LIVE: set[Server] = set()


@atexit.register
def _destroy_leftovers() -> None:
    for server in list(LIVE):
        server.destroy()


@contextmanager
def started(server: S) -> Iterator[S]:
    """The server started, and stopped and removed on exit even if the body or start fails."""
    try:
        server.start()
        yield server
    finally:
        server.destroy()
