"""A whole database restored in sections: the stream feeds pg_restore's pre-data and data
sections, then `pg_restore --section=post-data -j N` builds the indexes, constraints and
triggers from the archive's table of contents, kept in memory (actions/restore_stream.py).

The test bed's databases are small, so the size under which a restore stays one pg_restore
(SPLIT_MIN_BYTES) is lowered to 0 here, and two indexes are built at a time whatever the
machine's cores.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable

import pytest
from support import all_source_databases, assert_databases_identical, restore_to, table_contents

from pgback.actions import restore, restore_stream
from pgback.actions.backup import run_backup
from pgback.actions.restore import RestoreOptions, run_restore, target_from
from pgback.actions.restore_stream import TocFile
from pgback.config import Settings
from pgback.testbed import PostgresServer

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
SPLIT = "indexes, constraints and triggers, 2 at a time"


@pytest.fixture
def in_sections(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(restore_stream, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(restore, "post_data_jobs", lambda: 2)
    caplog.set_level(logging.INFO, logger="pgback")


def split_databases(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage().split(":")[0] for r in caplog.records if SPLIT in r.getMessage()]


def indexes(server: PostgresServer, dbname: str) -> list[tuple[str, str]]:
    rows = server.query(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname IN ('public', 'extra') "
        "ORDER BY 1, 2",
        dbname=dbname,
    )
    return [(str(table), str(definition)) for table, definition in rows]


@pytest.mark.usefixtures("in_sections")
def test_restore_whole_set_in_sections_has_identical_databases(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(bucket, jobs=3)
    run_backup(settings)

    restored = run_restore(settings, "latest", restore_to(pg_target))

    assert sorted(restored.databases) == sorted(all_source_databases())
    # rows, and pg_dump --schema-only: indexes, primary and foreign keys, views, grants
    assert_databases_identical(pg, pg_target, all_source_databases())
    assert len(split_databases(caplog)) == len(all_source_databases())


@pytest.mark.usefixtures("in_sections")
def test_restore_with_clean_in_sections_replaces_the_database(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(bucket, include_dbs=["app"])
    run_backup(settings)
    run_restore(settings, "latest", restore_to(pg_target, databases=("app",)))
    pg_target.execute("DELETE FROM extra.notes WHERE id > 10", dbname="app")
    pg_target.execute("CREATE TABLE stray (id int)", dbname="app")

    run_restore(settings, "latest", restore_to(pg_target, databases=("app",), clean=True))

    assert_databases_identical(pg, pg_target, ["app"])
    assert split_databases(caplog) == ["restoring database 'app'"] * 2


@pytest.mark.usefixtures("in_sections")
def test_restore_under_another_name_in_sections_has_the_indexes(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(bucket, include_dbs=["app"])
    run_backup(settings)
    options = RestoreOptions(
        target=target_from(pg_target.dsn()), databases=("app",), rename="app_copy", globals=True
    )

    run_restore(settings, "latest", options)

    assert table_contents(pg_target, "app_copy") == table_contents(pg, "app")
    assert indexes(pg_target, "app_copy") == indexes(pg, "app")
    assert split_databases(caplog) == ["restoring database 'app' as 'app_copy'"]


@pytest.mark.usefixtures("in_sections")
def test_restore_as_owner_role_in_sections_lists_what_it_was_refused(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=["my db"])
    run_backup(settings)
    pg_target.execute("CREATE ROLE alice LOGIN CREATEDB PASSWORD 'alice-pw'")
    target = target_from(f"host={pg_target.host} port={pg_target.port} user=alice", "alice-pw")

    result = run_restore(settings, "latest", RestoreOptions(target=target, databases=("my db",)))

    assert table_contents(pg_target, "my db") == table_contents(pg, "my db")
    assert indexes(pg_target, "my db") == indexes(pg, "my db")
    refused = "\n".join(result.refused)
    assert "my db: ALTER TABLE public.items OWNER TO postgres" in refused
    assert "my db: GRANT SELECT ON TABLE public.items TO bob" in refused


@pytest.mark.usefixtures("in_sections")
def test_restore_schema_only_is_one_pg_restore(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(bucket, include_dbs=["app"])
    run_backup(settings)
    options = RestoreOptions(
        target=target_from(pg_target.dsn()), databases=("app",), schema_only=True
    )

    run_restore(settings, "latest", options)

    assert {name: rows for name, (rows, _) in table_contents(pg_target, "app").items()} == {
        "extra.notes": 0,
        "public.items": 0,
    }
    assert indexes(pg_target, "app") == indexes(pg, "app")
    assert split_databases(caplog) == []


@pytest.mark.usefixtures("in_sections")
def test_restore_without_a_readable_toc_falls_back_to_one_pg_restore(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as when the table of contents is larger than TOC_LIMIT: pg_restore -l never reads it whole
    monkeypatch.setattr(TocFile, "complete", lambda self, pg_restore, env: False)
    settings = settings_for(bucket, include_dbs=["app"])
    run_backup(settings)

    run_restore(settings, "latest", restore_to(pg_target, databases=("app",)))

    assert_databases_identical(pg, pg_target, ["app"])
    assert split_databases(caplog) == []


def test_toc_file_is_complete_only_once_it_holds_the_whole_table_of_contents(
    pg: PostgresServer,
) -> None:
    dumped = subprocess.run(
        [str(pg.bindir / "pg_dump"), "-Fc", "-Z0", "-d", "app"],
        env=pg.env(),
        capture_output=True,
        check=True,
    ).stdout
    pg_restore = str(pg.bindir / "pg_restore")
    toc = TocFile.create()
    assert toc is not None
    try:
        toc.add(dumped[:200])
        assert not toc.complete(pg_restore, pg.env())
        toc.add(dumped[200:])
        assert toc.complete(pg_restore, pg.env())
        assert b"".join(toc.chunks()) == dumped
    finally:
        toc.close()
