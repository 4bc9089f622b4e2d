"""Retention as a pure function: which sets to keep or remove, with a reason for each.

Invariants: the newest complete set is always kept; incomplete sets never count as kept
copies; sets newer than the newest complete one may be in progress and are left alone; sets
that started in the future (clock skew) are kept and do not count as the newest; objects that
are not ours never reach this function (the caller only passes parsed set ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pgback.durations import format_duration


@dataclass(frozen=True)
class SetState:
    set_id: str
    started: datetime
    complete: bool
    # why a backup on some host is still writing the set (a fresh running mark), else None
    in_progress: str | None = None


@dataclass(frozen=True)
class Policy:
    older_than: timedelta | None = None
    min_keep: int | None = 0  # None: keep every complete set
    keep_last: int | None = None


@dataclass(frozen=True)
class Decision:
    set_id: str
    keep: bool
    reason: str


def plan(sets: Iterable[SetState], policy: Policy, now: datetime) -> list[Decision]:
    """Decisions for every set, newest first."""
    ordered = sorted(sets, key=lambda s: s.started, reverse=True)
    # a set from the future (clock skew) is kept but ranks nowhere: ranked as the newest, it
    # would get every set made since purged by keep_last, its own run's set first
    complete = [s for s in ordered if s.complete and s.started <= now]
    newest_complete = complete[0] if complete else None
    rank = {s.set_id: i for i, s in enumerate(complete)}  # 0 = newest complete
    decisions: list[Decision] = []
    for state in ordered:
        decisions.append(_decide(state, policy, now, newest_complete, rank))
    return decisions


def _decide(
    state: SetState,
    policy: Policy,
    now: datetime,
    newest_complete: SetState | None,
    rank: dict[str, int],
) -> Decision:
    def keep(reason: str) -> Decision:
        return Decision(state.set_id, True, reason)

    def remove(reason: str) -> Decision:
        return Decision(state.set_id, False, reason)

    if state.in_progress:
        return keep(state.in_progress)
    age = now - state.started
    if age < timedelta(0):
        return keep(f"started {format_duration(-age)} in the future (clock skew?)")
    if not state.complete:
        if newest_complete is None or state.started > newest_complete.started:
            return keep("incomplete but newer than any complete set (may be in progress)")
        return remove("incomplete (no manifest) and older than the newest complete set")
    position = rank[state.set_id]
    if position == 0:
        return keep("newest complete set")
    if policy.min_keep is None:
        return keep("purge_min_keep=all")
    if position < policy.min_keep:
        return keep(f"among the {policy.min_keep} newest complete sets (purge_min_keep)")
    if policy.keep_last is not None and position >= policy.keep_last:
        return remove(f"beyond keep_last={policy.keep_last}")
    if policy.older_than is not None and age > policy.older_than:
        return remove(
            f"age {format_duration(age)} > purge_older_than {format_duration(policy.older_than)}"
        )
    if policy.older_than is None and policy.keep_last is None:
        return keep("no retention policy set")
    if policy.older_than is not None:
        return keep(
            f"age {format_duration(age)} <= purge_older_than {format_duration(policy.older_than)}"
        )
    return keep(f"within keep_last={policy.keep_last}")
