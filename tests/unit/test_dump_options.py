"""pg_dump_options and the [databases.NAME] tables: what pgback passes on, what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.config import load_settings
from pgback.config.databases import DatabaseOptions
from pgback.dumpopts import as_pg_dump_options, parse_options
from pgback.errors import ConfigError


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["-Fp"], "'-Fp' (pg_dump's --format)"),
        (["-F", "p"], "'-F' (pg_dump's --format)"),
        (["--format=c"], "'--format=c' (pg_dump's --format)"),
        (["--format", "plain"], "--format is set by pgback"),
        (["--form=t"], "'--form=t' (pg_dump's --format)"),
        (["-f", "/tmp/x"], "--file"),
        (["--file=/tmp/x"], "--file"),
        (["-Z9"], "--compress"),
        (["--compress=gzip:9"], "--compress"),
        (["--comp=1"], "--compress"),
        (["-xOZ", "5"], "'-xOZ' (pg_dump's --compress)"),
        (["-d", "other"], "--dbname"),
        (["--dbname=other"], "--dbname"),
        (["-h", "elsewhere"], "--host"),
        (["-p5433"], "--port"),
        (["-U", "eve"], "--username"),
        (["--user=eve"], "--username"),
        (["-w"], "--no-password"),
        (["-W"], "--password"),
        (["--password"], "--password"),
        (["-j", "4"], "--jobs"),
        (["--binary-upgrade"], "--binary-upgrade"),
        (["-V"], "--version"),
    ],
)
def test_pg_dump_options_pgbacks_own_are_refused_naming_the_option(
    given: list[str], named: str
) -> None:
    with pytest.raises(ValueError) as caught:
        as_pg_dump_options(given)

    assert named in str(caught.value) and "set by pgback" in str(caught.value)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (["--fi=x"], "ambiguous"),  # --file or --filter: pg_dump refuses it too
        (["--frobnicate"], "not a pg_dump option"),
        (["-q"], "-q is not a pg_dump option"),
        (["mydb"], "not an option (a database name?)"),
        (["--exclude-table"], "needs a value"),
        (["--no-owner=yes"], "takes no value"),
    ],
)
def test_pg_dump_options_not_pg_dump_ones_are_refused(given: list[str], problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        as_pg_dump_options(given)

    assert problem in str(caught.value)


def test_pg_dump_options_allowed_ones_pass_through_unchanged() -> None:
    given = ["--exclude-table-data=audit", "-T", "tmp_*", "-xO", "--role", "owner", "-n", "s"]

    assert as_pg_dump_options(given) == tuple(given)
    assert [o.name for o in parse_options(given)] == [
        "exclude-table-data",
        "exclude-table",
        "no-privileges",
        "no-owner",
        "role",
        "schema",
    ]


def test_pg_dump_options_from_the_environment_are_split_like_a_shell() -> None:
    settings = load_settings(
        env={"PGBACK_PG_DUMP_OPTIONS": "--exclude-table-data='audit log' --no-comments"}
    )

    assert settings.pg_dump_options == ("--exclude-table-data=audit log", "--no-comments")


def test_pg_dump_options_refused_in_the_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"PGBACK_PG_DUMP_OPTIONS": "--no-comments -Fp"})

    assert "pg_dump_options (env PGBACK_PG_DUMP_OPTIONS)" in str(caught.value)
    assert "'-Fp' (pg_dump's --format) is set by pgback" in str(caught.value)


def test_database_tables_are_loaded_per_database(tmp_path: Path) -> None:
    config = tmp_path / "pgback.toml"
    config.write_text(
        'pg_dump_options = ["--no-comments"]\n'
        "[databases.shop]\n"
        'pg_dump_options = ["--exclude-table-data=audit"]\n'
        'exclude = ["tmp_*"]\n'
        "jobs = 4\n"
        '[databases."my db"]\n'
        'exclude = ["extra.*"]\n'
    )

    settings = load_settings(env={}, config_file=config)

    assert settings.database("shop") == DatabaseOptions(
        ("--exclude-table-data=audit",), ("tmp_*",), 4
    )
    assert settings.database("shop").dump_args(settings.pg_dump_options) == [
        "--exclude-table-data=audit",
        "--exclude-table=tmp_*",
    ]
    assert settings.database("my db").dump_args(settings.pg_dump_options) == [
        "--no-comments",
        "--exclude-table=extra.*",
    ]
    assert settings.database("other").dump_args(settings.pg_dump_options) == ["--no-comments"]


def test_database_tables_every_problem_is_reported_at_once_naming_database_and_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "pgback.toml"
    config.write_text(
        "[databases.shop]\n"
        'pg_dump_options = ["--format=p"]\n'
        "exclude = true\n"
        "jobs = 0\n"
        "colour = 'blue'\n"
        '[databases."my db"]\n'
        'pg_dump_options = "-h elsewhere"\n'
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_file=config)

    problems = caught.value.problems
    assert len(problems) == 5
    assert any("[databases.shop] pg_dump_options: '--format=p'" in p for p in problems)
    assert any("[databases.shop] exclude: expected a list" in p for p in problems)
    assert any("[databases.shop] jobs: expected an integer >= 1, got 0" in p for p in problems)
    assert any("[databases.shop] 'colour': unknown key" in p for p in problems)
    assert any('[databases."my db"] pg_dump_options' in p and "--host" in p for p in problems)
