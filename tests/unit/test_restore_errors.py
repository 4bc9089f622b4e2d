"""Judging pg_restore's and psql's errors for a role that is not a superuser."""

from __future__ import annotations

import pytest

from pgback.actions.restore_errors import (
    Failure,
    globals_failures,
    is_refused_global,
    judge_restore,
    pg_restore_failures,
)
from pgback.errors import ProcessError

STDERR = """\
pg_restore: error: could not execute query: ERROR:  must be able to SET ROLE "postgres"
Command was: ALTER TABLE public.items OWNER TO postgres;

pg_restore: error: could not execute query: ERROR:  role "bob" does not exist
Command was: GRANT SELECT ON TABLE public.items TO bob;

pg_restore: warning: errors ignored on restore: 2
""".splitlines()


def test_pg_restore_failures_pairs_each_error_with_its_command() -> None:
    assert pg_restore_failures(STDERR) == [
        Failure(
            'must be able to SET ROLE "postgres"', "ALTER TABLE public.items OWNER TO postgres;"
        ),
        Failure('role "bob" does not exist', "GRANT SELECT ON TABLE public.items TO bob;"),
    ]


def test_judge_restore_only_refused_grants_are_reported_not_fatal() -> None:
    refused = judge_restore(STDERR, "restoring database 'x'", 1)

    assert refused == [
        'ALTER TABLE public.items OWNER TO postgres: must be able to SET ROLE "postgres"',
        'GRANT SELECT ON TABLE public.items TO bob: role "bob" does not exist',
    ]


@pytest.mark.parametrize(
    ("error", "named"),
    [
        # a missing role in something that is not an ownership or a grant
        (
            'pg_restore: error: could not execute query: ERROR:  role "bob" does not exist\n'
            "Command was: CREATE POLICY p ON public.items TO bob;",
            "CREATE POLICY p ON public.items TO bob",
        ),
        # a real failure
        (
            "pg_restore: error: could not execute query: ERROR:  permission denied to create "
            'extension "plpython3u"\nCommand was: CREATE EXTENSION plpython3u;',
            "CREATE EXTENSION plpython3u: permission denied",
        ),
        (
            "pg_restore: error: could not read from input file: end of file",
            "could not read from input file",
        ),
    ],
)
def test_judge_restore_any_other_error_is_fatal_and_named(error: str, named: str) -> None:
    with pytest.raises(ProcessError) as caught:
        judge_restore([*STDERR[:3], *error.splitlines()], "restoring database 'x'", 1)

    assert "restoring database 'x': pg_restore failed (exit 1)" in str(caught.value)
    assert named in str(caught.value)


def test_globals_failures_name_the_statement_and_refusals_of_roles_are_tolerated() -> None:
    script = "SET x = 1;\nCREATE ROLE bob;\nCREATE TABLE t ();\n"
    stderr = (
        "psql:<stdin>:2: ERROR:  permission denied to create role\n"
        "DETAIL:  Only roles with the CREATEROLE attribute may create roles.\n"
        "psql:<stdin>:3: ERROR:  permission denied for schema public\n"
    )

    failures = globals_failures(stderr, script)

    assert [f.statement for f in failures] == ["CREATE ROLE bob;", "CREATE TABLE t ();"]
    assert [is_refused_global(f) for f in failures] == [True, False]
    assert failures[0].shown() == "CREATE ROLE bob: permission denied to create role"
