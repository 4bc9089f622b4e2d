"""A running backup's mark: `<prefix>/<set id>/running.json`, visible to every host.

Hosts that share a bucket share no lock file. While a backup runs, its set folder holds this
small object, rewritten every `mark_stale_after / 6` (the idea of restic's repository locks);
`purge`, on any host, leaves a set alone while its mark is fresh. A host that died stops
refreshing: once its mark is older than `mark_stale_after` its set is an ordinary incomplete
set again, and the next purge removes it.

Freshness is judged on the S3 server's clock only: the mark's LastModified (stamped by the
server at each rewrite) against the server's current time (its HTTP Date header). The hosts'
clocks, however skewed, and the scenario harness's virtual clock never enter the comparison.
Known for sure, and dead at once (restic's rule, made safe for containers): a mark written in
this very process namespace (same kernel boot, same pid namespace) by a process that no longer
runs, or by this process for a run it no longer refreshes (a run that failed while the endpoint
was down, so its mark could not be removed). Containers with a pid namespace of their own, and
other machines, always wait for the time to pass.

The mark says who runs the backup (host name, pid, start time, pgback version) and how often
it is refreshed; never a secret. It never makes a set complete (only manifest.json does), and
a failed run removes it with the rest of its partial set.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from pgback import __version__, naming
from pgback.actions.context import log
from pgback.config import Settings
from pgback.durations import format_duration
from pgback.errors import NotFoundError, PgbackError, StorageError
from pgback.manifest import FileEntry
from pgback.storage.base import ObjectInfo, Storage

MARK_NAME = "running.json"
REFRESHES_PER_PERIOD = 6  # a live mark is rewritten this many times within mark_stale_after

# keys of the marks this process refreshes now: one it wrote but no longer refreshes (a run
# whose cleanup failed with the endpoint down) is dead at once for this process's own purge
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def mark_key(upload_prefix: str, set_id: str) -> str:
    return naming.set_prefix(upload_prefix, set_id) + MARK_NAME


class RunMark:
    """Writes the mark at `start()`, rewrites it from a thread until `stop()`."""

    def __init__(self, storage: Storage, key: str, started: datetime, settings: Settings) -> None:
        stale_after = settings.mark_stale_after
        self._storage = storage
        self._key = key
        self._stale_after = stale_after
        self._interval = stale_after.total_seconds() / REFRESHES_PER_PERIOD
        self._body = json.dumps(
            {
                "version": 1,
                "what": "a pgback backup is writing this set",
                "set_id": naming.make_set_id(started),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "pid_namespace": pid_namespace(),
                "started_at": started.isoformat(),  # this host's clock: informative only
                "tool_version": __version__,
                "refresh_seconds": self._interval,
                "stale_after_seconds": stale_after.total_seconds(),
            },
            indent=2,
        ).encode()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """The first write fails the run: a backup other hosts cannot see may be purged."""
        self._storage.put_bytes(self._key, self._body)
        with _LIVE_LOCK:
            _LIVE.add(self._key)
        self._thread = threading.Thread(target=self._refresh, name="run-mark", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                self._storage.put_bytes(self._key, self._body)
            except PgbackError as exc:
                if not failing:
                    log.warning(
                        "cannot refresh this run's mark %s (%s): other hosts may take it for a "
                        "dead run's after %s and purge it; retrying",
                        self._key,
                        exc,
                        format_duration(self._stale_after),
                    )
                failing = True
                continue
            if failing:
                log.info("this run's mark %s is refreshed again", self._key)
            failing = False

    def stop(self) -> None:
        """No rewrite after this returns (a removal that follows stays removed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with _LIVE_LOCK:
            _LIVE.discard(self._key)

    def remove(self) -> None:
        """After the manifest: best effort, a left-over mark only goes stale."""
        self.stop()
        try:
            self._storage.delete([self._key])
        except PgbackError as exc:
            log.warning("could not remove this run's mark %s (%s): it goes stale", self._key, exc)


def check_whole(storage: Storage, prefix: str, set_id: str, files: Iterable[FileEntry]) -> None:
    """Every file of the set is there, at its size, before the manifest makes it complete: a
    purge on another host (this run's mark could not be refreshed for too long) must not leave
    a complete-looking set with holes."""
    stored = {obj.key: obj.size for obj in storage.list(prefix)}
    lost = [f.key for f in files if stored.get(f.key) != f.size]
    if lost:
        raise StorageError(
            f"backup set {set_id}: {len(lost)} of its objects vanished while it ran (first: "
            f"{lost[0]}; removed by a purge on another host?): no manifest written; run the "
            "backup again"
        )


class Judge:
    """Tells fresh marks from stale ones, reading the store's clock at most once."""

    def __init__(self, storage: Storage, upload_prefix: str, stale_after: timedelta) -> None:
        self.storage = storage
        self.upload_prefix = upload_prefix
        self.stale_after = stale_after
        self._now: datetime | None = None

    def now(self) -> datetime:
        if self._now is None:
            self._now = self.storage.now()
        return self._now

    def fresh(self, set_id: str, objects: Iterable[ObjectInfo] | None = None) -> str | None:
        """Why the set is left alone ("in progress on HOST ..."), or None: no fresh mark.
        `objects` is the set's listing when the caller has it; else the mark is looked up."""
        key = mark_key(self.upload_prefix, set_id)
        if objects is None:
            objects = self.storage.list(key)
        found = next((obj for obj in objects if obj.key == key), None)
        if found is None:
            return None
        details = self._read(key)
        if details is None:
            return None  # removed meanwhile: the run finished or failed
        host, pid, declared, namespace = details
        if namespace is not None and namespace == pid_namespace() and not _running(pid, key):
            return None  # its process is gone, as this host can tell for sure
        # the writer's own period counts when it is longer: its refreshes are that far apart
        stale_after = max(self.stale_after, declared)
        if found.last_modified is None:  # every backend stamps objects; be safe if one does not
            return f"in progress on {host} (pid {pid}): its mark has no time, kept"
        age = max(self.now() - found.last_modified, timedelta(0))
        if age >= stale_after:
            return None
        return (
            f"in progress on {host} (pid {pid}), mark refreshed {format_duration(age)} ago "
            f"(stale after {format_duration(stale_after)})"
        )

    def _read(self, key: str) -> tuple[str, str, timedelta, str | None] | None:
        try:
            data = json.loads(self.storage.get_bytes(key))
        except NotFoundError:
            return None
        except ValueError:
            return "an unknown host", "?", self.stale_after, None
        if not isinstance(data, dict):
            return "an unknown host", "?", self.stale_after, None
        declared = data.get("stale_after_seconds")
        period = (
            timedelta(seconds=declared)
            if isinstance(declared, (int, float)) and 0 < declared < 7 * 86400
            else self.stale_after
        )
        namespace = data.get("pid_namespace")
        return (
            str(data.get("host", "an unknown host")),
            str(data.get("pid", "?")),
            period,
            namespace if isinstance(namespace, str) else None,
        )


def pid_namespace() -> str | None:
    """This kernel boot and pid namespace, where a pid names one process; None off Linux."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _running(pid: str, key: str) -> bool:
    """Is the process that wrote the mark still there (and, if it is us, still refreshing)?"""
    if not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        with _LIVE_LOCK:
            return key in _LIVE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
