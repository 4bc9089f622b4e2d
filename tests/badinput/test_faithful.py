"""The in-process harness is faithful: cases drawn from both sweeps' own strategies, run
in-process and as real `python -m pgback` processes, give the same exit code, the same
stdout and the same stderr (log lines' timestamps aside). A handful only: each real process
costs a second of start-up, which is why the sweeps run in-process."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pgback.config import KEYS

from .bed import Bed, reaches_outside
from .budget import examples
from .commands import arguments, base_words, values_for
from .inprocess import Outcome, run_pgback, run_subprocess
from .sweep import given as given_value
from .sweep import sources_for
from .test_settings_sweep import IDENTITY, base_env

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:Generating overly")]
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", re.MULTILINE)
# commands whose output does not depend on when they run (not backup; not list: ages)
STEADY = ("show", "download", "verify", "config", "doctor", "health")


def same(inside: Outcome, outside: Outcome) -> None:
    assert inside.code == outside.code, f"{inside.describe()}\n=== subprocess\n{outside.describe()}"
    assert inside.stdout == outside.stdout, (
        f"{inside.describe()}\n=== subprocess\n{outside.describe()}"
    )
    assert _STAMP.sub("", inside.stderr) == _STAMP.sub("", outside.stderr), (
        f"{inside.describe()}\n=== subprocess\n{outside.describe()}"
    )


@examples(6)
@given(key=st.sampled_from(sorted(KEYS)), data=st.data())
def test_faithful_settings_case_in_process_equals_subprocess(
    key: str, data: st.DataObject, scratch: Path
) -> None:
    spec = KEYS[key]
    source = data.draw(st.sampled_from(sources_for(spec)))
    where = scratch / "faithful" / uuid.uuid4().hex
    where.mkdir(parents=True)
    item = given_value(spec, source, data.draw, where, str(IDENTITY))
    for name, content in item.files.items():
        (where / name).write_bytes(content)
    env = {**base_env(scratch, key), **item.env}

    same(
        run_pgback(["config", *item.argv], env, where),
        run_subprocess(["config", *item.argv], env, where),
    )


@examples(6)
@given(data=st.data())
def test_faithful_command_case_in_process_equals_subprocess(data: st.DataObject, bed: Bed) -> None:
    argument = data.draw(st.sampled_from([a for a in arguments() if a.command in STEADY]))
    where = bed.workdir / "faithful" / uuid.uuid4().hex
    where.mkdir(parents=True)
    words = data.draw(values_for(argument, bed))(where)
    assume(not any(reaches_outside(word) for word in words))
    argv = [
        argument.command,
        *base_words(argument.command, bed, where, argument.action.dest),
        *words,
    ]
    given_files = set(where.rglob("*"))

    inside = run_pgback(argv, bed.env(), where)
    for made in sorted(set(where.rglob("*")) - given_files, reverse=True):  # a download's
        made.rmdir() if made.is_dir() else made.unlink()
    outside = run_subprocess(argv, bed.env(), where)

    same(inside, outside)
