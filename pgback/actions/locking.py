"""One backup at a time on this host, across processes (the sidecar and a manual run)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pgback.config import Settings
from pgback.errors import LockedError


def lock_path(settings: Settings) -> Path:
    return Path(settings.lock_file or os.path.join(settings.state_dir, "backup.lock"))


@contextmanager
def backup_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive flock for the duration; refuse at once if another run holds it."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockedError(
                f"another backup is running (lock {path} held by pid {holder}): "
                "wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
