"""`pgback backup` over the configuration's servers: one set each, one server at a time.

One server failing does not stop the others: each gets its own start and success or failure
pings, and the command fails afterwards naming every server that failed (exit code: that
failure's, when they all failed the same way, else 1). Without `[[servers]]` there is one
target and its error is raised as it is. A stop signal ends the loop at the running server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pgback import naming
from pgback.actions.backup import BackupResult, run_backup
from pgback.actions.catalog import scan_sets
from pgback.actions.reporting import reported_backup
from pgback.config import Settings
from pgback.errors import PgbackError
from pgback.storage import open_storage

log = logging.getLogger("pgback")


def backup_servers(
    targets: list[Settings],
    *,
    cancel: threading.Event,
    backup: Callable[..., BackupResult] = run_backup,
) -> list[tuple[Settings, BackupResult]]:
    if len(targets) == 1:
        return [(targets[0], reported_backup(targets[0], cancel=cancel, backup=backup))]
    done: list[tuple[Settings, BackupResult]] = []
    failed: list[tuple[str, PgbackError]] = []
    for target in targets:
        log.info("server %s: backing up", target.server)
        try:
            done.append((target, reported_backup(target, cancel=cancel, backup=backup)))
        except PgbackError as exc:
            if cancel.is_set():
                raise  # stopping: the servers after this one are not started
            log.error("server %s: backup failed: %s", target.server, exc)
            failed.append((str(target.server), exc))
    if failed:
        names = ", ".join(name for name, _ in failed)
        first_name, first = failed[0]
        error = PgbackError(
            f"backup failed for {len(failed)} of {len(targets)} servers ({names}); "
            f"{first_name}: {first}"
        )
        codes = {exc.exit_code for _, exc in failed}
        error.exit_code = codes.pop() if len(codes) == 1 else PgbackError.exit_code
        raise error
    return done


def sets_kept(
    target: Settings, result: BackupResult, describe: Callable[[BaseException], str]
) -> int | None:
    """Complete sets in the server's storage after its run (for /metrics); None when unknown."""
    if result.purge:
        return sum(1 for o in result.purge if o.decision.keep and o.summary.complete)
    if not target.s3_bucket:
        return None
    try:
        # one listing, no manifest reads: a set is complete when its manifest exists
        sets = scan_sets(open_storage(target), target.upload_prefix, read_manifests=False)
    except PgbackError as exc:
        log.warning("cannot count the sets in storage: %s", describe(exc))
        return None
    return sum(1 for s in sets if any(naming.is_manifest(o.key) for o in s.objects))
