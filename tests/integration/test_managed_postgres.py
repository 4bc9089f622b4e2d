"""Managed PostgreSQL: backing up and restoring as a role that owns its databases but is not a
superuser (the source data set's `alice`: LOGIN CREATEDB, pg_read_all_data)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo
from support import run_cli, table_contents, user_databases

from pgback.actions.backup import run_backup
from pgback.actions.download import run_download
from pgback.actions.restore import RestoreOptions, run_restore, target_from
from pgback.config import Settings
from pgback.errors import ProcessError
from pgback.manifest import KIND_GLOBALS, KIND_HBA, KIND_IDENT, KIND_SETTINGS
from pgback.testbed import PostgresServer, postgres_server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
RESTORED = ("app", "my db")


SHOP_ROWS = 321


@pytest.fixture(scope="module")
def managed(pg: PostgresServer) -> Iterator[PostgresServer]:
    """A server set up the way a managed service hands it over: the backup role `owner` owns
    the database `shop` and everything in it, is not a superuser and may not read pg_authid;
    `private` is a database it may not connect to; `reader` is a role it granted to."""
    with postgres_server(bindir=pg.bindir) as server:
        server.execute("CREATE ROLE owner LOGIN CREATEDB PASSWORD 'owner-pw'")
        server.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
        server.execute("CREATE DATABASE shop OWNER owner")
        server.execute("CREATE DATABASE private")
        server.execute("REVOKE CONNECT ON DATABASE private FROM PUBLIC")
        server.execute(
            "SET ROLE owner; CREATE TABLE items (id int PRIMARY KEY, label text);"
            f"INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {SHOP_ROWS}) g;"
            "GRANT SELECT ON items TO reader",
            dbname="shop",
        )
        yield server


def as_alice(server: PostgresServer, *, createdb: bool = True) -> RestoreOptions:
    """Restore into `server` connected as alice, a role that is not a superuser."""
    server.execute(
        f"CREATE ROLE alice LOGIN {'CREATEDB' if createdb else 'NOCREATEDB'} PASSWORD 'alice-pw'"
    )
    conninfo = make_conninfo(host=server.host, port=str(server.port), user="alice")
    return RestoreOptions(target=target_from(conninfo, "alice-pw"), databases=RESTORED)


def owner_settings(settings_for: SettingsFor, bucket: str, server: PostgresServer) -> Settings:
    return settings_for(bucket, server=server, user="owner", password="owner-pw")


def test_backup_as_owner_role_without_superuser_succeeds_with_one_warning_per_limit(
    managed: PostgresServer, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = owner_settings(settings_for, bucket, managed)

    manifest = run_backup(settings).manifest

    # every database the role may connect to, and not the one it may not
    assert sorted(manifest.databases) == ["postgres", "shop"]
    assert manifest.file(KIND_GLOBALS) is not None and manifest.file(KIND_SETTINGS) is not None
    assert manifest.file(KIND_HBA) is None and manifest.file(KIND_IDENT) is None
    passwords = [w for w in manifest.warnings if "pg_authid" in w]
    skipped = [w for w in manifest.warnings if "may not connect" in w]
    files = [w for w in manifest.warnings if "hba and ident" in w]
    assert len(passwords) == 1 and "--no-role-passwords" in passwords[0]
    assert len(skipped) == 1 and "'private'" in skipped[0]
    assert len(files) == 1
    assert len(manifest.warnings) == 3
    plain = run_download(settings, "latest", tmp_path / "plain", decrypt=True)
    globals_sql = next(f.path for f in plain if f.entry.kind == KIND_GLOBALS).read_text()
    assert "CREATE ROLE reader;" in globals_sql and "PASSWORD" not in globals_sql
    settings_text = next(f.path for f in plain if f.entry.kind == KIND_SETTINGS).read_text()
    assert "listen_addresses" in settings_text


def test_backup_and_restore_both_as_owner_role_bring_back_its_database(
    managed: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = owner_settings(settings_for, bucket, managed)
    run_backup(settings)
    pg_target.execute("CREATE ROLE owner LOGIN CREATEDB PASSWORD 'owner-pw'")
    conninfo = make_conninfo(host=pg_target.host, port=str(pg_target.port), user="owner")
    target = target_from(conninfo, "owner-pw")

    result = run_restore(settings, "latest", RestoreOptions(target=target, databases=("shop",)))

    assert result.databases == ["shop"]
    assert table_contents(pg_target, "shop") == table_contents(managed, "shop")
    assert pg_target.query(
        "SELECT tableowner FROM pg_tables WHERE tablename = 'items'", dbname="shop"
    ) == [("owner",)]
    refused = "\n".join(result.refused)
    assert "shop: GRANT SELECT ON TABLE public.items TO reader" in refused
    assert "globals: CREATE ROLE reader: permission denied" in refused


def test_restore_as_owner_role_fills_new_databases_and_lists_what_it_was_refused(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=list(RESTORED))
    run_backup(settings)

    result = run_restore(settings, "latest", as_alice(pg_target))

    assert sorted(result.databases) == sorted(RESTORED)
    for name in RESTORED:
        assert table_contents(pg_target, name) == table_contents(pg, name), name
    owners = pg_target.query(
        "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE d.datname = ANY(%s) ORDER BY 1",
        (list(RESTORED),),
    )
    assert owners == [("app", "alice"), ("my db", "alice")]
    # the source's postgres-owned objects and bob's grant: refused to alice, each listed
    refused = "\n".join(result.refused)
    assert "my db: ALTER TABLE public.items OWNER TO postgres" in refused
    assert "my db: GRANT SELECT ON TABLE public.items TO bob" in refused
    assert 'role "bob" does not exist' in refused
    assert (
        "globals: CREATE ROLE bob: permission denied" in refused and "permission denied" in refused
    )
    assert "extra.notes" not in refused  # alice's own objects restore as they were


def test_restore_as_owner_role_keeps_other_errors_fatal(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=["my db"])
    run_backup(settings)
    options = as_alice(pg_target, createdb=False)

    with pytest.raises(ProcessError) as caught:
        run_restore(settings, "latest", RestoreOptions(target=options.target, databases=("my db",)))

    assert "restoring database 'my db'" in str(caught.value)
    assert "permission denied to create database" in str(caught.value)
    assert "my db" not in user_databases(pg_target)


def test_restore_cli_as_owner_role_lists_the_refused_statements_at_the_end(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    pgback_env: Callable[..., dict[str, str]],
) -> None:
    run_backup(settings_for(bucket, include_dbs=["my db"]))
    options = as_alice(pg_target)
    env = {
        **pgback_env(bucket),
        "PGBACK_TARGET": f"host={pg_target.host} port={pg_target.port} user=alice",
        "PGBACK_TARGET_PASSWORD": "alice-pw",
    }
    assert options.target.user == "alice"

    done = run_cli(env, "restore", "latest", "--databases", "my db")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("restored set ") and lines[0].endswith(": my db")
    assert "ownership or privilege statement(s)" in lines[1]
    assert any("ALTER TABLE public.items OWNER TO postgres" in line for line in lines[2:])
    assert "alice-pw" not in done.stdout + done.stderr
