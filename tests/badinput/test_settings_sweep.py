"""Every setting, fed bad and odd values through every way a value reaches pgback: the
environment (its variable, its aliases, a secret's _FILE), the settings file (any TOML type,
the key at the top and in a [[servers]] table) and the command line (its flag; a secret's
would-be flag). Each case is `pgback config` run in-process (inprocess.py).

Every case ends in exit 2 with one error naming the key and where the value came from, or
is accepted: `pgback config` then shows it, normalised as documented, from where it was set,
and showing it again through the environment gives the same value (the round trip). Never a
traceback, never "internal error", never a secret.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pyrage
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgback.config import KEYS

from . import values as v
from .budget import examples
from .inprocess import Outcome, run_pgback
from .sweep import (
    Given,
    assert_clean,
    assert_names,
    config_rows,
    expected_value,
    invariants,
    printable,
    sources_for,
)
from .sweep import (
    given as given_value,
)

IDENTITY = pyrage.x25519.Identity.generate()
CANARIES = [v.CANARY, str(IDENTITY)]
# examples per key: every source of the key shares them
EXAMPLES_PER_KEY = 40


def base_env(scratch: Path, key: str) -> dict[str, str]:
    """A clean environment holding a canary in every other secret, so that an error about one
    key cannot repeat another's secret unseen."""
    env = {"PATH": "/usr/bin:/bin", "PGBACK_STATE_DIR": str(scratch / "state")}
    for spec in KEYS.values():
        if spec.secret and spec.name != key:
            env[spec.env] = (
                str(IDENTITY)
                if spec.name == "cipher_private_key"
                else f"https://hc-ping.example.invalid/{v.CANARY}"
                if spec.name == "ping_url"
                else f"other-{v.CANARY}"
            )
    env.pop(KEYS[key].env, None)  # the key under test comes only from where the case sets it
    return env


def run_config(item: Given, env: dict[str, str], case_dir: Path) -> Outcome:
    for name, data in item.files.items():
        (case_dir / name).write_bytes(data)
    return run_pgback(["config", *item.argv], {**env, **item.env}, case_dir)


@pytest.mark.parametrize("key", sorted(KEYS))
@examples(EXAMPLES_PER_KEY)
@given(data=st.data())
def test_settings_sweep_bad_value_is_one_line_naming_key_and_source_or_round_trips(
    key: str, data: st.DataObject, scratch: Path
) -> None:
    spec = KEYS[key]
    source = data.draw(st.sampled_from(sources_for(spec)), label="source")
    case_dir = scratch / "settings" / key / uuid.uuid4().hex
    case_dir.mkdir(parents=True, exist_ok=True)
    item = given_value(spec, source, data.draw, case_dir, str(IDENTITY))
    env = base_env(scratch, key)

    outcome = run_config(item, env, case_dir)

    assert_clean(outcome, CANARIES)
    if source == "secret_flag":  # secrets are never flags, and the refusal never repeats it
        assert outcome.code == 2, outcome.describe()
        assert_names(outcome.problems[0], item, outcome)
        return
    if outcome.code != 0:
        assert outcome.code == 2, outcome.describe()
        for problem in outcome.problems:
            assert_names(problem, item, outcome)
        return
    rows = config_rows(outcome.stdout)
    assert item.row in rows, f"{item.row} not shown:\n{outcome.describe()}"
    row = rows[item.row]
    assert row.source == item.label, outcome.describe()
    expected = expected_value(spec, item)
    if expected is not None:
        assert row.value == printable(expected), outcome.describe()
    invariants(spec, row.value)
    if spec.secret or "\\" in row.value:  # shown as *** or escaped: not what was given
        return
    if isinstance(item.raw, list) and any("," in str(part) for part in item.raw):
        return  # an array item holding a comma: the environment's comma list cannot say it
    # the round trip: what `pgback config` shows, given back, is accepted and shown the same
    again = run_pgback(["config"], {**env, spec.env: row.value}, case_dir)
    assert_clean(again, CANARIES)
    assert again.code == 0, f"shown {row.value!r}, refused when given back:\n{again.describe()}"
    assert config_rows(again.stdout)[spec.name].value == row.value, again.describe()
