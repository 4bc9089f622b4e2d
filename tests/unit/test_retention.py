"""Retention: which sets purge keeps, with tables of dates and a pinned `now`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from pgback.naming import make_set_id
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
