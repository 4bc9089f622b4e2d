"""`pgback config` reports every problem the commands would: a value `config` accepts is
then used for real by a command that reads it (chosen from the command's settings groups in
pgback.cli: the cheapest command using the key's group), against real servers (bed.py).

The command may fail for what the servers make of the value (a host that does not answer, a
database that does not exist: exit 3 to 8, one line), but never with a configuration error
about the key that `config` let through, never with a traceback or "internal error", and
never showing a secret.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from pgback.cli import _COMMAND_GROUPS
from pgback.config import KEYS, KeySpec

from . import values as v
from .bed import Bed, reaches_outside
from .budget import examples
from .inprocess import run_pgback
from .sweep import assert_clean

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Generating overly")]

# cheapest first; each with the arguments it needs against the bed's complete set
CONSUMERS: list[tuple[str, ...]] = [
    ("list",),
    ("purge", "--dry-run"),
    ("doctor",),
    ("health",),
    ("verify", "latest"),
    ("backup",),
]
EXAMPLES_PER_KEY = 6
BACKUP_EXAMPLES_PER_KEY = 4


def consumer(spec: KeySpec) -> tuple[str, ...]:
    for argv in CONSUMERS:
        if spec.group in _COMMAND_GROUPS[argv[0]]:
            return argv
    raise AssertionError(f"no command uses the settings group {spec.group!r} of {spec.name}")


def keys_using(backup: bool) -> list[str]:
    return sorted(k for k, spec in KEYS.items() if (consumer(spec)[0] == "backup") == backup)


def check_consumer(key: str, data: st.DataObject, bed: Bed) -> None:
    spec = KEYS[key]
    pool = v.plausible(spec) or v.POOL
    text = data.draw(
        st.one_of(st.sampled_from(pool), st.sampled_from(pool), v.for_argv(v.text_values())),
        label=key,
    )
    if spec.secret:
        text = data.draw(v.for_argv(v.setting_text(spec, bed.identity)), label=key)
    assume(not reaches_outside(text))
    case_dir = bed.workdir / "consumers" / uuid.uuid4().hex
    case_dir.mkdir(parents=True)
    # its own prefix and state: these runs leave sets the command sweep must not see
    env = bed.env(PGBACK_UPLOAD_PREFIX="consumers", PGBACK_STATE_DIR=str(case_dir / "state"))
    env[spec.env] = text

    checked = run_pgback(["config"], env, case_dir)
    assert_clean(checked, bed.canaries)
    event(f"config exit {checked.code}")
    if checked.code != 0:
        return
    argv = consumer(spec)
    outcome = run_pgback(list(argv), env, case_dir)
    event(f"{argv[0]} exit {outcome.code}")
    assert_clean(outcome, bed.canaries)
    if outcome.code == 2:
        words = (spec.name, spec.env, spec.flag)
        assert not any(w in p for p in outcome.problems for w in words), (
            f"`pgback config` accepted {text!r}, `pgback {argv[0]}` refuses it:\n"
            f"{outcome.describe()}"
        )


@pytest.mark.parametrize("key", keys_using(backup=False))
@examples(EXAMPLES_PER_KEY)
@given(data=st.data())
def test_settings_consumer_value_config_accepts_is_no_config_error_later(
    key: str, data: st.DataObject, bed: Bed
) -> None:
    check_consumer(key, data, bed)


@pytest.mark.parametrize("key", keys_using(backup=True))
@examples(BACKUP_EXAMPLES_PER_KEY)
@given(data=st.data())
def test_settings_consumer_value_config_accepts_backs_up_or_fails_cleanly(
    key: str, data: st.DataObject, bed: Bed
) -> None:
    check_consumer(key, data, bed)
