"""`pgback purge`: apply the retention policy to whole sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pgback import naming
from pgback.actions.catalog import SetSummary, scan_sets
from pgback.actions.context import log, utc_now
from pgback.actions.runmark import Judge
from pgback.config import Settings
from pgback.retention import Decision, Policy, SetState, plan
from pgback.storage import open_storage
from pgback.storage.base import Storage, UploadJanitor


@dataclass(frozen=True)
class PurgeOutcome:
    decision: Decision
    summary: SetSummary
    removed: bool  # False on dry-run or for kept sets


def policy_from(settings: Settings) -> Policy:
    return Policy(
        older_than=settings.purge_older_than,
        min_keep=settings.purge_min_keep,
        keep_last=settings.keep_last,
        keep_daily=settings.keep_daily,
        keep_weekly=settings.keep_weekly,
        keep_monthly=settings.keep_monthly,
        keep_yearly=settings.keep_yearly,
        zone=ZoneInfo(settings.retention_zone),
    )


def run_purge(
    settings: Settings,
    *,
    storage: Storage | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] = utc_now,
    dry_run: bool = False,
) -> list[PurgeOutcome]:
    storage = storage or open_storage(settings)
    now = now or clock()
    # pg_back's runs are not ours to delete unless asked: then the same policy, run by run
    sets = scan_sets(storage, settings.upload_prefix, pg_back=settings.purge_pg_back_files)
    by_id = {s.set_id: s for s in sets}
    # a backup running on another host: judged on the store's clock, not `now` (see runmark)
    marks = Judge(storage, settings.upload_prefix, settings.mark_stale_after)
    states = [
        SetState(s.set_id, s.started, s.complete, marks.fresh(s.set_id, s.objects)) for s in sets
    ]
    decisions = plan(states, policy_from(settings), now)
    outcomes: list[PurgeOutcome] = []
    for decision in decisions:
        summary = by_id[decision.set_id]
        removed = False
        if not decision.keep and not dry_run:
            _delete_set(storage, settings.upload_prefix, summary)
            log.info("purge: removed set %s (%s)", decision.set_id, decision.reason)
            removed = True
        outcomes.append(PurgeOutcome(decision, summary, removed))
    if not dry_run:
        # a set from the future (clock skew) would make every running upload look stale
        newest = next((s.set_id for s in sets if s.complete and s.started <= now), None)
        _abort_stale_uploads(storage, settings.upload_prefix, newest, marks)
    return outcomes


def _abort_stale_uploads(
    storage: Storage, upload_prefix: str, newest_complete: str | None, marks: Judge
) -> None:
    """Multipart uploads left by a killed or cut-off run hold storage (and cost money) but
    never show in a listing; those of sets older than the newest complete one are dead,
    unless a fresh mark says a run on some host still writes them (looked up now: that run
    may have started after the listing)."""
    if newest_complete is None or not isinstance(storage, UploadJanitor):
        return
    running: dict[str, bool] = {}
    for key, upload_id in storage.list_uploads(naming.root_prefix(upload_prefix)):
        parts = naming.split_key(upload_prefix, key)
        if parts is None or parts[0] >= newest_complete:
            continue
        if parts[0] not in running:
            running[parts[0]] = marks.fresh(parts[0]) is not None
        if not running[parts[0]]:
            storage.abort_upload(key, upload_id)
            log.info("purge: aborted the unfinished upload of %s", key)


def _delete_set(storage: Storage, upload_prefix: str, summary: SetSummary) -> None:
    """Manifest first: a half-deleted set reads as incomplete, never as complete but broken."""
    manifest_key = naming.manifest_key(upload_prefix, summary.set_id)
    keys = [obj.key for obj in summary.objects]
    ordered = [k for k in keys if k == manifest_key] + [k for k in keys if k != manifest_key]
    storage.delete(ordered)
