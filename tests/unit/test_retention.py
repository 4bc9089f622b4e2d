"""Retention: which sets purge keeps, with tables of dates and a pinned `now`."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from calendar_reference import calendar_reference

from pgback.naming import make_set_id
from pgback.periods import KINDS
from pgback.retention import Decision, Policy, SetState, plan

NOW = datetime(2025, 6, 15, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def sets_at(*spec: tuple[float, bool]) -> list[SetState]:
    """Sets from (age in days, complete); negative ages are in the future."""
    out = []
    for age_days, complete in spec:
        started = NOW - timedelta(days=age_days)
        out.append(SetState(make_set_id(started), started, complete))
    return out


def kept_ages(sets: list[SetState], decisions: list[Decision]) -> list[float]:
    """Ages (days) of the kept sets, newest first: the tables below read as what survives."""
    by_id = {s.set_id: s for s in sets}
    return [(NOW - by_id[d.set_id].started) / DAY for d in decisions if d.keep]


C, INC = True, False  # complete, incomplete


@pytest.mark.parametrize(
    ("spec", "policy", "kept"),
    [
        pytest.param(
            [(1, C), (5, C), (10, C), (40, C)],
            Policy(older_than=7 * DAY),
            [1, 5],
            id="older_than removes old complete sets",
        ),
        pytest.param(
            [(40, C), (50, C)],
            Policy(older_than=7 * DAY),
            [40],
            id="newest complete kept even when too old",
        ),
        pytest.param(
            [(40, C), (50, C), (60, C)],
            Policy(older_than=7 * DAY, min_keep=2),
            [40, 50],
            id="min_keep keeps the N newest complete",
        ),
        pytest.param(
            [(40, C), (45, INC), (50, C), (55, INC)],
            Policy(older_than=7 * DAY, min_keep=2),
            [40, 50],
            id="incomplete sets do not count toward min_keep",
        ),
        pytest.param(
            [(1, C), (40, C), (50, C)],
            Policy(older_than=7 * DAY, min_keep=None),
            [1, 40, 50],
            id="min_keep all keeps every complete set",
        ),
        pytest.param(
            [(1, C), (2, INC), (40, C), (41, INC)],
            Policy(older_than=7 * DAY, min_keep=None),
            [1, 40],
            id="min_keep all still removes old incomplete sets",
        ),
        pytest.param(
            [(0.01, INC), (1, C), (2, INC), (3, C)],
            Policy(older_than=30 * DAY),
            [0.01, 1, 3],
            id="incomplete older than newest complete removed, newer kept",
        ),
        pytest.param(
            [(0.01, INC), (1, INC), (2, INC)],
            Policy(older_than=DAY / 24),
            [0.01, 1, 2],
            id="no complete set: incomplete ones may be in progress, all kept",
        ),
        pytest.param(
            [(1, C), (2, C), (3, C), (4, C), (5, C)],
            Policy(keep_last=2),
            [1, 2],
            id="keep_last keeps the N newest complete",
        ),
        pytest.param(
            [(1, C), (2, C), (3, C), (4, C)],
            Policy(keep_last=1, min_keep=3),
            [1, 2, 3],
            id="min_keep wins over a smaller keep_last",
        ),
        pytest.param(
            [(1, C), (2, C), (30, C), (31, C)],
            Policy(keep_last=3, older_than=7 * DAY),
            [1, 2],
            id="keep_last and older_than: either removes",
        ),
        pytest.param(
            [(1, C), (40, C), (50, C)],
            Policy(),
            [1, 40, 50],
            id="no policy keeps every complete set",
        ),
        pytest.param(
            [(-2, C), (-1, C), (1, C), (40, C)],
            Policy(older_than=7 * DAY, keep_last=1),
            [-2, -1, 1],
            id="future sets kept (clock skew) but not ranked: the newest real set is kept",
        ),
        pytest.param(
            [(-1, INC), (40, C), (50, C)],
            Policy(older_than=7 * DAY),
            [-1, 40],
            id="future incomplete set kept",
        ),
        pytest.param([], Policy(older_than=DAY), [], id="no sets"),
    ],
)
def test_plan_policy_table_keeps_expected_sets(
    spec: list[tuple[float, bool]], policy: Policy, kept: list[float]
) -> None:
    sets = sets_at(*spec)

    decisions = plan(sets, policy, NOW)

    assert kept_ages(sets, decisions) == pytest.approx(kept)


def test_plan_any_input_order_decides_newest_first_once_per_set() -> None:
    sets = sets_at((10, C), (1, INC), (5, C), (30, C))

    decisions = plan(reversed(sets), Policy(older_than=7 * DAY), NOW)

    assert [d.set_id for d in decisions] == sorted((s.set_id for s in sets), reverse=True)


def test_plan_mixed_sets_each_decision_says_why() -> None:
    sets = sets_at((-1, C), (0.5, INC), (1, C), (2, INC), (5, C), (9, C), (40, C))

    decisions = plan(sets, Policy(older_than=7 * DAY, min_keep=2, keep_last=3), NOW)

    assert [(d.keep, d.reason) for d in decisions] == [
        (True, "started 1d in the future (clock skew?)"),
        (True, "incomplete but newer than any complete set (may be in progress)"),
        (True, "newest complete set"),
        (False, "incomplete (no manifest) and older than the newest complete set"),
        (True, "among the 2 newest complete sets (purge_min_keep)"),
        (False, "age 9d > purge_older_than 7d"),
        (False, "beyond keep_last=3"),
    ]


def test_plan_future_sets_kept_as_clock_skew_and_newest_real_set_kept() -> None:
    sets = sets_at((-2, C), (-1, C), (3, C), (4, C))

    decisions = plan(sets, Policy(keep_last=1), NOW)

    assert [(d.keep, d.reason) for d in decisions] == [
        (True, "started 2d in the future (clock skew?)"),
        (True, "started 1d in the future (clock skew?)"),
        (True, "newest complete set"),
        (False, "beyond keep_last=1"),
    ]


def test_plan_older_than_reason_shows_age_and_limit() -> None:
    sets = sets_at((1, C), (10, C))

    removed = [d for d in plan(sets, Policy(older_than=7 * DAY), NOW) if not d.keep]

    assert len(removed) == 1
    assert removed[0].reason == "age 10d > purge_older_than 7d"


# --- invariants over random sets and policies --------------------------------------------------


def _random_case(rng: random.Random) -> tuple[list[SetState], Policy]:
    count = rng.randrange(0, 12)
    ages = rng.sample(range(-3 * 24, 90 * 24), count)  # hours; distinct, some in the future
    sets = []
    for hours in ages:
        started = NOW - timedelta(hours=hours)
        sets.append(SetState(make_set_id(started), started, rng.random() < 0.7))
    policy = Policy(
        older_than=rng.choice([None, timedelta(hours=1), 7 * DAY, 30 * DAY]),
        min_keep=rng.choice([None, 0, 1, 2, 5]),
        keep_last=rng.choice([None, 1, 2, 4]),
    )
    if rng.random() < 0.5:  # half the cases add calendar rules, in some time zone
        policy = replace(
            policy,
            keep_daily=rng.choice([None, 1, 3, 7]),
            keep_weekly=rng.choice([None, 1, 2, 4]),
            keep_monthly=rng.choice([None, 1, 2, 12]),
            keep_yearly=rng.choice([None, 1, 3]),
            zone=rng.choice([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("Pacific/Auckland")]),
        )
    return sets, policy


def test_plan_random_sets_and_policies_hold_the_safety_invariants() -> None:
    rng = random.Random(20250615)
    for case in range(3000):
        sets, policy = _random_case(rng)
        decisions = plan(sets, policy, NOW)
        context = f"case {case}: {policy} {sets}"

        keep = {d.set_id: d.keep for d in decisions}
        assert sorted(keep) == sorted(s.set_id for s in sets), context
        complete = sorted((s for s in sets if s.complete), key=lambda s: s.started, reverse=True)
        incomplete = [s for s in sets if not s.complete]
        real = [s for s in complete if s.started <= NOW]  # not from the future

        # never removes every complete set; the newest one (not from the future) is kept
        if complete:
            assert keep[complete[0].set_id], context
        if real:
            assert keep[real[0].set_id], context
        # never fewer than min_keep complete sets (all of them with min_keep=all)
        kept_complete = [s for s in complete if keep[s.set_id]]
        wanted = len(complete) if policy.min_keep is None else min(policy.min_keep, len(complete))
        assert len(kept_complete) >= wanted, context
        # incomplete sets: removed when older than the newest real complete set, else kept
        for state in incomplete:
            older = bool(real) and state.started < real[0].started
            assert keep[state.set_id] == (not older), context
        # removing sets (an earlier purge, a hand-made deletion) never loses a kept set: what
        # a purge keeps, a purge of any subset still keeps (so purging twice = purging once)
        gone = {s.set_id for s in sets if not keep[s.set_id] or rng.random() < 0.3}
        rest = [s for s in sets if s.set_id not in gone]
        assert all(d.keep for d in plan(rest, policy, NOW)), context
        # future sets are never removed
        assert all(keep[s.set_id] for s in sets if s.started > NOW), context
        if policy.calendar_set:
            # a removed complete set fails the limits, and is no calendar rule's pick
            picks = _reference_calendar(real, policy)
            for position, state in enumerate(real):
                if not keep[state.set_id]:
                    assert state.set_id not in picks, context
                    too_old = (
                        policy.older_than is not None and NOW - state.started > policy.older_than
                    )
                    beyond = policy.keep_last is not None and position >= policy.keep_last
                    assert too_old or beyond or not policy.limits_set, context
            continue
        # without calendar rules:
        # nothing is removed without a policy asking for it
        if policy.older_than is None and policy.keep_last is None:
            assert all(keep[s.set_id] for s in complete), context
        # removal is monotonic: once a complete set goes, every older complete set goes too
        flags = [keep[s.set_id] for s in complete]
        assert flags == sorted(flags, reverse=True), context
        # a removed complete set is old enough or beyond keep_last
        for position, state in enumerate(complete):
            if not keep[state.set_id]:
                too_old = policy.older_than is not None and NOW - state.started > policy.older_than
                beyond = policy.keep_last is not None and position >= policy.keep_last
                assert too_old or beyond, context
                assert state.started <= NOW, context  # future sets are never removed


def test_plan_kept_set_lists_every_rule_that_keeps_it() -> None:
    sets = sets_at((1, C), (5, C), (6, C))

    decisions = plan(sets, Policy(older_than=7 * DAY, min_keep=2, keep_last=3), NOW)

    assert [d.reasons for d in decisions] == [
        (
            "newest complete set",
            "among the 2 newest complete sets (purge_min_keep)",
            "age 1d <= purge_older_than 7d",
            "within keep_last=3",
        ),
        (
            "among the 2 newest complete sets (purge_min_keep)",
            "age 5d <= purge_older_than 7d",
            "within keep_last=3",
        ),
        ("age 6d <= purge_older_than 7d", "within keep_last=3"),
    ]


def test_plan_removed_set_lists_every_limit_it_failed() -> None:
    sets = sets_at((1, C), (30, C))

    decisions = plan(sets, Policy(older_than=7 * DAY, keep_last=1), NOW)

    assert decisions[1].reasons == ("beyond keep_last=1", "age 30d > purge_older_than 7d")
    assert not decisions[1].keep


# --- calendar rules (keep_daily, keep_weekly, keep_monthly, keep_yearly) ----------------------

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def sets_on(*stamps: str, incomplete: tuple[str, ...] = ()) -> list[SetState]:
    """Complete sets started at these UTC instants ('2026-03-28T23:30'), plus incomplete ones."""
    out = []
    for stamp in (*stamps, *incomplete):
        started = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
        out.append(SetState(make_set_id(started), started, stamp not in incomplete))
    return out


def kept_stamps(sets: list[SetState], decisions: list[Decision]) -> list[str]:
    by_id = {s.set_id: s for s in sets}
    return [by_id[d.set_id].started.strftime("%Y-%m-%dT%H:%M") for d in decisions if d.keep]


CAL_NOW = datetime(2027, 2, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamps", "policy", "kept"),
    [
        pytest.param(
            ["2027-01-30T03:00", "2027-01-30T01:00", "2027-01-29T03:00", "2027-01-28T03:00"],
            Policy(keep_daily=2),
            ["2027-01-30T03:00", "2027-01-29T03:00"],
            id="daily keeps the newest set of each of the last N days",
        ),
        pytest.param(
            ["2026-03-28T23:30", "2026-03-28T22:00", "2026-03-27T23:30"],
            Policy(keep_daily=2),
            ["2026-03-28T23:30", "2026-03-27T23:30"],
            id="UTC days: 22:00 and 23:30 UTC are one day",
        ),
        pytest.param(
            ["2026-03-28T23:30", "2026-03-28T22:00", "2026-03-27T23:30"],
            Policy(keep_daily=2, zone=BERLIN),
            ["2026-03-28T23:30", "2026-03-28T22:00"],
            id="Berlin days before DST starts: 23:30 UTC is 00:30 the next day",
        ),
        pytest.param(
            ["2026-03-29T22:30", "2026-03-29T21:30", "2026-03-28T23:30"],
            Policy(keep_daily=3, zone=BERLIN),
            ["2026-03-29T22:30", "2026-03-29T21:30", "2026-03-28T23:30"],
            id="Berlin days after DST starts: 22:30 UTC is 00:30 the next day",
        ),
        pytest.param(
            ["2026-10-25T00:30", "2026-10-24T23:30", "2026-10-24T12:00", "2026-10-23T12:00"],
            Policy(keep_daily=2, zone=BERLIN),
            ["2026-10-25T00:30", "2026-10-24T12:00"],
            id="Berlin DST ends: both 01:30 local times of 25 October are one day",
        ),
        pytest.param(
            ["2026-12-31T20:00", "2026-12-31T10:00", "2026-06-01T12:00"],
            Policy(keep_yearly=2),
            ["2026-12-31T20:00", "2026-06-01T12:00"],
            id="UTC year: one year only, so the oldest set is kept too (restic)",
        ),
        pytest.param(
            ["2026-12-31T20:00", "2026-12-31T10:00", "2026-06-01T12:00"],
            Policy(keep_yearly=2, zone=TOKYO),
            ["2026-12-31T20:00", "2026-12-31T10:00"],
            id="Tokyo year end: 20:00 UTC on 31 December is already next year",
        ),
        pytest.param(
            ["2027-01-04T03:00", "2027-01-03T03:00", "2026-12-28T03:00", "2026-12-27T03:00"],
            Policy(keep_weekly=3),
            ["2027-01-04T03:00", "2027-01-03T03:00", "2026-12-27T03:00"],
            id="ISO week 53 of 2026 runs from 28 December to 3 January",
        ),
        pytest.param(
            ["2026-06-20T03:00", "2026-06-02T03:00", "2025-06-15T03:00", "2025-01-10T03:00"],
            Policy(keep_monthly=2),
            ["2026-06-20T03:00", "2025-06-15T03:00"],
            id="gaps of several months: the last N months that hold a set",
        ),
        pytest.param(
            ["2027-01-20T03:00", "2026-11-20T03:00", "2026-11-02T03:00"],
            Policy(keep_monthly=5),
            ["2027-01-20T03:00", "2026-11-20T03:00", "2026-11-02T03:00"],
            id="a rule with room left keeps the oldest set (restic since 0.16)",
        ),
        pytest.param(
            ["2027-02-03T03:00", "2027-02-01T03:00", "2027-01-31T03:00"],
            Policy(keep_daily=1),
            ["2027-02-03T03:00", "2027-02-01T03:00"],
            id="a set from the future is kept and uses no count",
        ),
        pytest.param(
            ["2027-02-01T03:00", "2027-01-31T03:00", "2026-12-15T03:00", "2026-11-15T03:00"],
            Policy(older_than=7 * DAY, keep_monthly=3),
            ["2027-02-01T03:00", "2027-01-31T03:00", "2026-12-15T03:00"],
            id="a monthly copy survives purge_older_than",
        ),
        pytest.param(
            ["2027-02-01T03:00", "2027-01-31T03:00", "2027-01-30T03:00", "2026-12-15T03:00"],
            Policy(keep_last=1, keep_daily=2),
            ["2027-02-01T03:00", "2027-01-31T03:00"],
            id="keep_last and keep_daily: either keeps",
        ),
        pytest.param(
            ["2027-02-01T03:00", "2027-02-01T02:00", "2027-02-01T01:00"],
            Policy(keep_daily=3, min_keep=2),
            ["2027-02-01T03:00", "2027-02-01T02:00", "2027-02-01T01:00"],
            id="purge_min_keep floors the count; one day only, so the oldest is kept too",
        ),
        pytest.param(
            ["2027-02-01T03:00", "2027-02-01T02:00", "2027-02-01T01:00", "2027-01-31T01:00"],
            Policy(keep_daily=1, min_keep=2),
            ["2027-02-01T03:00", "2027-02-01T02:00"],
            id="purge_min_keep keeps a second set of the same day",
        ),
        pytest.param(
            ["2027-01-31T03:00", "2027-01-30T03:00", "2026-01-30T03:00", "2025-01-30T03:00"],
            Policy(keep_daily=1, keep_weekly=1, keep_monthly=1, keep_yearly=3),
            ["2027-01-31T03:00", "2026-01-30T03:00", "2025-01-30T03:00"],
            id="all four rules together",
        ),
    ],
)
def test_plan_calendar_table_keeps_expected_sets(
    stamps: list[str], policy: Policy, kept: list[str]
) -> None:
    sets = sets_on(*stamps)

    decisions = plan(sets, policy, CAL_NOW)

    assert kept_stamps(sets, decisions) == kept


def test_plan_calendar_incomplete_sets_take_no_part_in_the_periods() -> None:
    sets = sets_on(
        "2027-01-31T03:00", "2027-01-30T03:00", incomplete=("2027-01-31T05:00", "2027-01-30T05:00")
    )

    decisions = plan(sets, Policy(keep_daily=2), CAL_NOW)

    # the newer incomplete set may be in progress; the older one goes; both complete sets stay
    assert kept_stamps(sets, decisions) == [
        "2027-01-31T05:00",
        "2027-01-31T03:00",
        "2027-01-30T03:00",
    ]


def test_plan_calendar_reasons_name_every_rule_and_period() -> None:
    sets = sets_on("2027-01-31T03:00", "2027-01-30T03:00", "2027-01-24T03:00", "2026-12-20T03:00")

    decisions = plan(
        sets, Policy(keep_last=1, keep_daily=2, keep_weekly=2, keep_monthly=1), CAL_NOW
    )

    assert [(d.keep, d.reasons) for d in decisions] == [
        (
            True,
            (
                "newest complete set",
                "within keep_last=1",
                "daily 2027-01-31",
                "weekly 2027-W04",
                "monthly 2027-01",
            ),
        ),
        (True, ("daily 2027-01-30",)),
        (True, ("weekly 2027-W03",)),
        (
            False,
            (
                "beyond keep_last=1",
                "kept by no calendar rule (keep_daily=2, keep_weekly=2, keep_monthly=1)",
            ),
        ),
    ]


def test_plan_calendar_oldest_set_reason_says_the_rule_has_room() -> None:
    sets = sets_on("2027-01-31T03:00", "2027-01-30T03:00", "2027-01-29T03:00")

    decisions = plan(sets, Policy(keep_monthly=3), CAL_NOW)

    assert [d.reasons for d in decisions] == [
        ("newest complete set", "monthly 2027-01"),
        ("kept by no calendar rule (keep_monthly=3)",),
        ("monthly 2027-01, the oldest set (keep_monthly=3)",),
    ]


def _reference_calendar(complete: list[SetState], policy: Policy) -> set[str]:
    counts = {kind: policy.calendar_count(kind) for kind in KINDS}
    picks = calendar_reference([s.started for s in complete], counts, policy.zone)
    return {s.set_id for s in complete if s.started in picks}


def test_plan_calendar_rules_match_a_reference_computed_by_grouping() -> None:
    rng = random.Random(20261130)
    zones = [UTC, BERLIN, TOKYO, ZoneInfo("America/New_York")]
    for case in range(400):
        hours = rng.sample(range(1, 3 * 365 * 24), rng.randrange(1, 60))
        complete = [
            SetState(make_set_id(CAL_NOW - timedelta(hours=h)), CAL_NOW - timedelta(hours=h), True)
            for h in hours
        ]
        policy = Policy(
            keep_daily=rng.choice([None, 1, 3, 7]),
            keep_weekly=rng.choice([None, 1, 4, 53]),
            keep_monthly=rng.choice([None, 2, 12, 40]),
            keep_yearly=rng.choice([None, 1, 5]),
            zone=rng.choice(zones),
        )
        if not policy.calendar_set:
            continue
        newest = max(complete, key=lambda s: s.started).set_id

        kept = {d.set_id for d in plan(complete, policy, CAL_NOW) if d.keep}

        assert kept == _reference_calendar(complete, policy) | {newest}, f"case {case}: {policy}"


def test_plan_set_marked_in_progress_is_kept_with_the_marks_reason_whatever_its_age() -> None:
    old_running, done = sets_at((3, INC), (1, C))
    running = SetState(
        old_running.set_id, old_running.started, False, "in progress on host-a (pid 7)"
    )

    decisions = plan([running, done], Policy(older_than=DAY, keep_last=1), NOW)

    assert [(d.set_id, d.keep, d.reason) for d in decisions] == [
        (done.set_id, True, "newest complete set"),
        (running.set_id, True, "in progress on host-a (pid 7)"),
    ]


def test_plan_set_marked_in_progress_never_counts_as_the_newest_complete() -> None:
    sets = sets_at((1, C), (2, C))
    marked = [SetState(s.set_id, s.started, s.complete, None) for s in sets]
    # an interrupted run cannot look complete through its mark: only the manifest counts
    newer = NOW - timedelta(hours=1)
    marked.append(SetState(make_set_id(newer), newer, False, "in progress on host-b (pid 9)"))

    decisions = plan(marked, Policy(keep_last=1), NOW)

    reasons = {d.set_id: d.reason for d in decisions}
    assert reasons[sets[0].set_id] == "newest complete set"
    assert [d.keep for d in decisions] == [True, True, False]
