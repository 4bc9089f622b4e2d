"""A stand-in for run_backup, for the pure scheduling tests only (no servers involved)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from pgback import naming
from pgback.actions.backup import BackupResult
from pgback.config import Settings
from pgback.errors import Interrupted, PgbackError
from pgback.manifest import Encryption, FileEntry, Manifest

Clock = Callable[[], datetime]


class FakeBackup:
    """Records when it was called; optionally takes (virtual) time, fails, or blocks."""

    def __init__(
        self,
        *,
        takes: Callable[[], object] | None = None,
        error: PgbackError | None = None,
        block_until_cancelled: bool = False,
        size: int = 1234,
    ) -> None:
        self.calls: list[datetime] = []
        self.takes = takes
        self.error = error
        self.block_until_cancelled = block_until_cancelled
        self.size = size
        self.started = threading.Event()

    def __call__(
        self, settings: Settings, *, clock: Clock, cancel: threading.Event
    ) -> BackupResult:
        started = clock()
        self.calls.append(started)
        self.started.set()
        if self.takes is not None:
            self.takes()
        if self.block_until_cancelled:
            cancel.wait(30)
            raise Interrupted("backup cancelled")
        if self.error is not None:
            raise self.error
        set_id = naming.make_set_id(started)
        manifest = Manifest(
            set_id=set_id,
            started_at=started.isoformat(),
            finished_at=clock().isoformat(),
            tool_version="test",
            server_version="18.0",
            pg_dump_version="18.0",
            encryption=Encryption(),
            files=(FileEntry("globals", "pg_globals.sql", "k", self.size, "0" * 64),),
        )
        return BackupResult(set_id, manifest)
