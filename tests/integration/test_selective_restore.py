"""What is dumped (pg_dump_options, [databases.NAME]) and what is restored (--schema, --table,
--data-only, --schema-only, --as), against real servers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from support import restore_to, run_cli, table_contents, user_databases

from pgback.actions.backup import run_backup
from pgback.actions.restore import RestoreOptions, run_restore
from pgback.config import Settings, load_settings
from pgback.errors import UsageError
from pgback.testbed import PostgresServer

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
DATABASES = ["app", "my db"]


@pytest.fixture
def backed_up(bucket: str, settings_for: SettingsFor) -> Settings:
    settings = settings_for(bucket, include_dbs=DATABASES)
    run_backup(settings)
    return settings


def test_pg_dump_options_and_database_tables_shape_what_is_dumped(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    config = tmp_path / "pgback.toml"
    config.write_text('[databases.app]\nexclude = ["extra.notes"]\n')
    env = pgback_env(
        bucket, include_dbs=DATABASES, pg_dump_options="--exclude-table-data=extra.notes"
    )
    settings = load_settings(env=env, config_file=config)

    manifest = run_backup(settings).manifest
    run_restore(settings, "latest", restore_to(pg_target))

    assert manifest.options["pg_dump_options"] == ["--exclude-table-data=extra.notes"]
    app, my_db = table_contents(pg_target, "app"), table_contents(pg_target, "my db")
    assert "extra.notes" not in app  # [databases.app] exclude: no table at all
    assert app["public.items"] == table_contents(pg, "app")["public.items"]
    assert my_db["extra.notes"] == (0, "")  # the global option: the table, not its rows
    assert my_db["public.items"] == table_contents(pg, "my db")["public.items"]


def test_pg_dump_options_forbidden_option_is_refused_by_the_cli_naming_it(
    bucket: str, pgback_env: Callable[..., dict[str, str]]
) -> None:
    env = pgback_env(bucket, pg_dump_options="--no-comments --form=plain")

    done = run_cli(env, "backup")

    assert done.returncode == 2
    assert "'--form=plain' (pg_dump's --format) is set by pgback" in done.stderr
    assert done.stderr.count("\n") == 1  # one line


def test_restore_table_brings_back_a_dropped_table_only_with_clean(
    pg: PostgresServer, pg_target: PostgresServer, backed_up: Settings
) -> None:
    run_restore(backed_up, "latest", restore_to(pg_target, databases=("my db",)))
    pg_target.execute("DROP TABLE items CASCADE", dbname="my db")
    pg_target.execute("INSERT INTO extra.notes VALUES (1000, NULL, 'kept')", dbname="my db")
    options = replace(restore_to(pg_target, databases=("my db",), globals=False), tables=("items",))

    with pytest.raises(UsageError, match="pass --clean to replace the selected objects"):
        run_restore(backed_up, "latest", options)
    run_restore(backed_up, "latest", replace(options, clean=True))

    restored = table_contents(pg_target, "my db")
    assert restored["public.items"] == table_contents(pg, "my db")["public.items"]
    assert restored["extra.notes"][0] == table_contents(pg, "my db")["extra.notes"][0] + 1


def test_restore_schema_replaces_only_that_schema(
    pg: PostgresServer, pg_target: PostgresServer, backed_up: Settings
) -> None:
    run_restore(backed_up, "latest", restore_to(pg_target, databases=("app",)))
    pg_target.execute("DROP TABLE extra.notes", dbname="app")  # -n restores what is in it
    pg_target.execute("UPDATE items SET label = 'changed' WHERE id = 1", dbname="app")
    options = replace(
        restore_to(pg_target, databases=("app",), clean=True, globals=False), schemas=("extra",)
    )

    run_restore(backed_up, "latest", options)

    restored = table_contents(pg_target, "app")
    assert restored["extra.notes"] == table_contents(pg, "app")["extra.notes"]
    # outside the schema: untouched
    assert pg_target.query("SELECT label FROM items WHERE id = 1", dbname="app") == [("changed",)]


def test_restore_as_puts_a_copy_next_to_the_original(
    pg: PostgresServer, pg_target: PostgresServer, backed_up: Settings
) -> None:
    run_restore(backed_up, "latest", restore_to(pg_target, databases=("app",)))
    pg_target.execute("DELETE FROM items WHERE id > 100", dbname="app")

    result = run_restore(
        backed_up,
        "latest",
        replace(restore_to(pg_target, databases=("app",), globals=False), rename="app drill"),
    )

    assert result.databases == ["app"]
    assert {"app", "app drill"} <= user_databases(pg_target)
    assert table_contents(pg_target, "app drill") == table_contents(pg, "app")
    assert table_contents(pg_target, "app")["public.items"][0] == 100  # the original: as it was
    with pytest.raises(UsageError, match="pass --clean"):
        run_restore(
            backed_up,
            "latest",
            replace(restore_to(pg_target, databases=("app",), globals=False), rename="app drill"),
        )


def test_restore_schema_only_then_data_only_fills_the_copy(
    pg: PostgresServer, pg_target: PostgresServer, backed_up: Settings
) -> None:
    base = restore_to(pg_target, databases=("my db",))
    run_restore(backed_up, "latest", replace(base, rename="shape", schema_only=True))

    empty = table_contents(pg_target, "shape")
    assert set(empty) == set(table_contents(pg, "my db"))
    assert all(count == 0 for count, _ in empty.values())

    run_restore(backed_up, "latest", replace(base, rename="shape", data_only=True, globals=False))

    assert table_contents(pg_target, "shape") == table_contents(pg, "my db")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rename": "copy"}, "--as names one database, and set"),
        (
            {"rename": "copy", "databases": ("app",), "data_only": True},
            "do not exist on the target",
        ),
        ({"data_only": True, "clean": True}, "--data-only cannot be combined with --clean"),
        ({"data_only": True, "schema_only": True}, "exclude each other"),
    ],
)
def test_restore_selection_that_cannot_work_is_refused_before_anything_happens(
    pg_target: PostgresServer, backed_up: Settings, change: dict[str, object], message: str
) -> None:
    options: RestoreOptions = replace(restore_to(pg_target), **change)  # type: ignore[arg-type]

    with pytest.raises(UsageError, match=message):
        run_restore(backed_up, "latest", options)

    assert user_databases(pg_target) == {"postgres"}


def test_restore_cli_table_as_and_no_privileges_restore_one_table_elsewhere(
    pg: PostgresServer,
    pg_target: PostgresServer,
    backed_up: Settings,
    bucket: str,
    pgback_env: Callable[..., dict[str, str]],
) -> None:
    env = {**pgback_env(bucket), "PGBACK_TARGET": pg_target.dsn()}
    # -t restores the table alone, not the type it uses: a database that has the type
    pg_target.execute('CREATE DATABASE "one"')
    pg_target.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')", dbname="one")

    done = run_cli(
        env,
        "restore",
        "latest",
        "--databases",
        "app",
        "--table",
        "items",
        "--as",
        "one",
        "--no-privileges",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("restored set ")
    assert set(table_contents(pg_target, "one")) == {"public.items"}
    assert table_contents(pg_target, "one") == {
        "public.items": table_contents(pg, "app")["public.items"]
    }
