"""How many cases the bad-input suite runs: Hypothesis profiles and each test's budget.

`pytest --badinput=ci` (the default): each test's fixed number of examples, derandomized
(the same cases on every run and machine, no example database): what CI runs.
`pytest --badinput=long`: twenty times as many, a fresh random seed each run, and
Hypothesis' example database (.hypothesis/) so a failure found once is replayed first.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

SCALES = {"ci": 1, "long": 20}
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "badinput-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "badinput-long",
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
chosen = "ci"


def choose(name: str) -> None:
    """Called by tests/conftest.py from `--badinput` before the tests are collected."""
    global chosen
    chosen = name


def examples(count: int) -> settings:
    """A test's settings: `count` examples in CI, scaled by the chosen run."""
    return settings(settings.get_profile(f"badinput-{chosen}"), max_examples=count * SCALES[chosen])
