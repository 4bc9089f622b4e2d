"""Retention as a pure function: which sets to keep or remove, with the reasons for each.

Guards come first and are not rules: a set from the future (clock skew) is kept and ranks
nowhere; an incomplete set is kept while it may be in progress (newer than the newest complete
set) and removed otherwise; the newest complete set is always kept. Every other complete set is
kept when any rule in KEEP_RULES keeps it, each rule adding its reasons; a set no rule keeps is
removed, with the reasons it failed. Adding a rule is one function and one row in the table.

`keep_last` and `purge_older_than` are limits that apply together: a set passes them when it is
within both (pg_back's semantics). `keep_daily`, `keep_weekly`, `keep_monthly` and `keep_yearly`
are calendar rules with restic's `forget --keep-*` semantics: walking the complete sets newest
first, each of the last N periods (in `Policy.zone`) that holds a set keeps its newest set; and
while a rule still has room when the walk reaches the oldest set, that set is kept too (restic
does this since 0.16, so a short history is not cut at its start). Unlike restic, sets from the
future and incomplete sets take no part in the walk (the guards decide them). Objects that are
not ours never reach this function (the caller only passes parsed set ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from pgback.durations import format_duration
from pgback.periods import DAILY, KINDS, MONTHLY, WEEKLY, YEARLY, period_label


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
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    zone: tzinfo = UTC  # where the calendar periods begin and end

    @property
    def limits_set(self) -> bool:
        return self.older_than is not None or self.keep_last is not None

    def calendar_count(self, kind: str) -> int | None:
        count: int | None = getattr(self, f"keep_{kind}")
        return count

    @property
    def calendar_set(self) -> bool:
        return any(self.calendar_count(kind) for kind in KINDS)


@dataclass(frozen=True)
class Decision:
    set_id: str
    keep: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        """The main reason: the guard, or the first rule that decided."""
        return self.reasons[0]


@dataclass(frozen=True)
class Ranked:
    """A complete set not from the future, with its rank among those (0 = the newest)."""

    state: SetState
    position: int
    age: timedelta


KeepRule = Callable[[Sequence[Ranked], Policy], dict[str, list[str]]]


def _min_keep(ranked: Sequence[Ranked], policy: Policy) -> dict[str, list[str]]:
    if policy.min_keep is None:
        return {r.state.set_id: ["purge_min_keep=all"] for r in ranked}
    reason = f"among the {policy.min_keep} newest complete sets (purge_min_keep)"
    return {r.state.set_id: [reason] for r in ranked if r.position < policy.min_keep}


def _limits(ranked: Sequence[Ranked], policy: Policy) -> dict[str, list[str]]:
    """Within keep_last and younger than purge_older_than (both, when both are set)."""
    if not policy.limits_set:
        return {}
    kept: dict[str, list[str]] = {}
    for r in ranked:
        if _failed_limits(r, policy):
            continue
        reasons = []
        if policy.older_than is not None:
            reasons.append(
                f"age {format_duration(r.age)} <= purge_older_than "
                f"{format_duration(policy.older_than)}"
            )
        if policy.keep_last is not None:
            reasons.append(f"within keep_last={policy.keep_last}")
        kept[r.state.set_id] = reasons
    return kept


def _calendar(kind: str) -> KeepRule:
    """keep_<kind>: the newest set of each of the last N <kind> periods holding a set."""

    def rule(ranked: Sequence[Ranked], policy: Policy) -> dict[str, list[str]]:
        count = policy.calendar_count(kind)
        kept: dict[str, list[str]] = {}
        room = count or 0
        last: str | None = None
        for r in ranked:
            if room <= 0:
                break
            label = period_label(kind, r.state.started, policy.zone)
            if label != last:
                kept[r.state.set_id] = [f"{kind} {label}"]
            elif r is ranked[-1]:
                # restic's rule: a rule not filled by the whole history keeps its oldest set
                kept[r.state.set_id] = [f"{kind} {label}, the oldest set (keep_{kind}={count})"]
            else:
                continue  # an older set of a period already kept
            last = label
            room -= 1
        return kept

    rule.__name__ = f"_keep_{kind}"
    return rule


def _no_policy(ranked: Sequence[Ranked], policy: Policy) -> dict[str, list[str]]:
    if policy.limits_set or policy.calendar_set:
        return {}
    return {r.state.set_id: ["no retention policy set"] for r in ranked}


# the rules, in the order their reasons are listed
KEEP_RULES: tuple[KeepRule, ...] = (
    _min_keep,
    _limits,
    _calendar(DAILY),
    _calendar(WEEKLY),
    _calendar(MONTHLY),
    _calendar(YEARLY),
    _no_policy,
)


def _failed_limits(r: Ranked, policy: Policy) -> list[str]:
    failed = []
    if policy.keep_last is not None and r.position >= policy.keep_last:
        failed.append(f"beyond keep_last={policy.keep_last}")
    if policy.older_than is not None and r.age > policy.older_than:
        failed.append(
            f"age {format_duration(r.age)} > purge_older_than {format_duration(policy.older_than)}"
        )
    return failed


def plan(sets: Iterable[SetState], policy: Policy, now: datetime) -> list[Decision]:
    """Decisions for every set, newest first."""
    ordered = sorted(sets, key=lambda s: s.started, reverse=True)
    # a set from the future (clock skew) is kept but ranks nowhere: ranked as the newest, it
    # would get every set made since purged by keep_last, its own run's set first
    complete = [s for s in ordered if s.complete and s.started <= now]
    ranked = [Ranked(s, i, now - s.started) for i, s in enumerate(complete)]
    kept: dict[str, list[str]] = {}
    for rule in KEEP_RULES:
        for set_id, reasons in rule(ranked, policy).items():
            kept.setdefault(set_id, []).extend(reasons)
    newest = complete[0] if complete else None
    by_id = {r.state.set_id: r for r in ranked}
    return [_decide(s, now, newest, by_id.get(s.set_id), kept, policy) for s in ordered]


def _decide(
    state: SetState,
    now: datetime,
    newest: SetState | None,
    ranked: Ranked | None,
    kept: dict[str, list[str]],
    policy: Policy,
) -> Decision:
    if state.in_progress:
        return Decision(state.set_id, True, (state.in_progress,))
    if state.started > now:
        ahead = format_duration(state.started - now)
        return Decision(state.set_id, True, (f"started {ahead} in the future (clock skew?)",))
    if not state.complete:
        if newest is None or state.started > newest.started:
            reason = "incomplete but newer than any complete set (may be in progress)"
            return Decision(state.set_id, True, (reason,))
        reason = "incomplete (no manifest) and older than the newest complete set"
        return Decision(state.set_id, False, (reason,))
    assert ranked is not None  # complete and not from the future
    reasons = kept.get(state.set_id, [])
    if ranked.position == 0:
        return Decision(state.set_id, True, ("newest complete set", *reasons))
    if reasons:
        return Decision(state.set_id, True, tuple(reasons))
    failed = _failed_limits(ranked, policy)
    if policy.calendar_set:
        failed.append(f"kept by no calendar rule ({_calendar_summary(policy)})")
    return Decision(state.set_id, False, tuple(failed) or ("kept by no retention rule",))


def _calendar_summary(policy: Policy) -> str:
    return ", ".join(
        f"keep_{kind}={count}" for kind in KINDS if (count := policy.calendar_count(kind))
    )
