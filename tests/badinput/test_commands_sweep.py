"""Every command's own arguments (read off the argparse parser: commands.py), given odd and
bad values, run in-process against real servers (bed.py): a PostgreSQL source and target,
moto's S3 server and complete sets. Errors from the storage and the servers are exercised as
well as the argument checks: a set id that parses but does not exist, a --target that
refuses, a database the set does not hold, a --server the settings file does not list.

Every case ends in exit 0, or in one `pgback: error:` line and its documented exit code;
never a traceback, "internal error", a usage block or a secret. An error naming a server or
the bucket names the one actually used.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from .bed import PREFIX, SERVERS, Bed, reaches_outside
from .budget import examples
from .commands import Argument, arguments, base_words, values_for
from .inprocess import Outcome, run_pgback
from .sweep import assert_clean

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
ARGUMENTS = arguments()
# examples per argument (the commands run for real: a restore takes a second)
EXAMPLES_PER_ARGUMENT = 12


@pytest.mark.integration
@pytest.mark.parametrize("argument", ARGUMENTS, ids=[a.id for a in ARGUMENTS])
@examples(EXAMPLES_PER_ARGUMENT)
@given(data=st.data())
def test_command_sweep_argument_ends_in_success_or_one_line_error(
    argument: Argument, data: st.DataObject, bed: Bed
) -> None:
    case_dir = bed.workdir / "cases" / uuid.uuid4().hex
    case_dir.mkdir(parents=True)
    make = data.draw(values_for(argument, bed), label=argument.id)
    words = make(case_dir)
    assume(not any(reaches_outside(word) for word in words if argument.action.dest != "set"))
    with_servers = argument.action.dest != "config" and data.draw(st.booleans(), label="servers")
    servers = ["--config", str(bed.servers_config)] if with_servers else []
    argv = [
        argument.command,
        *base_words(argument.command, bed, case_dir, argument.action.dest),
        *servers,
        *words,
    ]
    one_server = argument.command in ("show", "download", "restore", "verify")
    if with_servers and one_server and argument.action.dest != "server":
        argv += ["--server", SERVERS[0]]

    if argument.command == "restore":
        bed.reset_target()
    outcome = run_pgback(argv, bed.env(), case_dir)

    event(f"exit {outcome.code}")  # `--hypothesis-show-statistics` shows what was reached
    assert_clean(outcome, bed.canaries)
    if outcome.code:
        assert_names_what_was_used(outcome, argument, words, bed)


def assert_names_what_was_used(
    outcome: Outcome, argument: Argument, words: list[str], bed: Bed
) -> None:
    """An error naming a server or the bucket names the one this case used."""
    message = outcome.problems[0]
    if "cannot connect to PostgreSQL at" in message:
        if argument.action.dest == "target" and "--target" in words[0]:
            given = words[-1] if len(words) > 1 else words[0].split("=", 1)[1]
            expected = _conninfo_host_port(given)
        elif argument.command == "restore":
            expected = (bed.target.host, str(bed.target.port))
        else:
            expected = (bed.source.host, str(bed.source.port))
        host, port = expected
        where = f"{host}:{port}" if host and not host.startswith("/") else f".s.PGSQL.{port}"
        assert where in message or (host and host.split(",")[-1] in message), (
            f"{where} not named:\n{outcome.describe()}"
        )
    # the word in what pgback says, not in what was typed (a set id 's3://bucket/x')
    said = message
    for word in words:
        said = said.replace(repr(word), "").replace(word, "")
    if "bucket" in said:
        assert bed.bucket in message, outcome.describe()
    if outcome.code == 3 and message.startswith("no set "):
        assert bed.bucket in message and PREFIX in message, outcome.describe()


def _conninfo_host_port(conninfo: str) -> tuple[str, str]:
    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:
        return ("", "")
    host = str(parts.get("host") or parts.get("hostaddr") or "/var/run/postgresql")
    return host, str(parts.get("port") or "5432")
