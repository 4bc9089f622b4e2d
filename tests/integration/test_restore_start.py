"""What a restore asks before it writes: the same answers, fewer costs.

The target's facts come through psql (adapters.target_probe) and equal psycopg's answer;
whatever psql cannot answer plainly goes to psycopg, whose error is the one reported.
`latest` reads only the manifests it needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pgback.actions.backup import run_backup
from pgback.actions.catalog import resolve_set
from pgback.adapters import target_probe
from pgback.adapters.postgres import ConnParams, TargetFacts, target_facts
from pgback.config import Settings
from pgback.errors import DatabaseError
from pgback.naming import is_manifest
from pgback.secret import Secret
from pgback.storage import open_storage
from pgback.storage.base import Storage
from pgback.testbed import PostgresServer

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]


def _params(server: PostgresServer, **extra: str) -> ConnParams:
    return ConnParams(
        host="127.0.0.1",
        port=server.port,
        user="postgres",
        password=Secret(server.password),
        extra=extra,
    )


def _psycopg_refused(params: ConnParams) -> TargetFacts:
    raise AssertionError("asked through psycopg")


def test_restore_start_target_facts_through_psql_equal_psycopg(
    pg_target: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_target.execute("CREATE ROLE owner_role LOGIN CREATEROLE PASSWORD 'pw-owner'")
    pg_target.execute('CREATE DATABASE "my db" OWNER owner_role')
    superuser = _params(pg_target)
    owner = ConnParams(
        host="127.0.0.1", port=pg_target.port, user="owner_role", password=Secret("pw-owner")
    )
    expected = [target_facts(superuser), target_facts(owner)]
    monkeypatch.setattr(target_probe, "target_facts", _psycopg_refused)

    answers = [target_probe.ask_target(p, str(pg_target.bindir)) for p in (superuser, owner)]

    assert answers == expected
    assert answers[0].rights.superuser and not answers[1].rights.superuser
    assert answers[1].rights.create_role and answers[1].user == "owner_role"
    assert "my db" in answers[0].databases


def test_restore_start_settings_psql_is_not_given_go_to_psycopg(
    pg_target: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _params(pg_target, hostaddr="127.0.0.1")
    asked: list[ConnParams] = []

    def through_psycopg(p: ConnParams) -> TargetFacts:
        asked.append(p)
        return target_facts(p)

    monkeypatch.setattr(target_probe, "target_facts", through_psycopg)

    facts = target_probe.ask_target(params, str(pg_target.bindir))

    assert asked == [params]
    assert facts.user == "postgres"


def test_restore_start_unreachable_target_reports_psycopg_error(
    pg_target: PostgresServer,
) -> None:
    closed = ConnParams(host="127.0.0.1", port=1, user="postgres", password=Secret("x"))
    with pytest.raises(DatabaseError) as expected:
        target_facts(closed)
    wrong_password = ConnParams(
        host="127.0.0.1", port=pg_target.port, user="postgres", password=Secret("not-it")
    )
    with pytest.raises(DatabaseError) as expected_auth:
        target_facts(wrong_password)

    with pytest.raises(DatabaseError) as got:
        target_probe.ask_target(closed, str(pg_target.bindir))
    with pytest.raises(DatabaseError) as got_auth:
        target_probe.ask_target(wrong_password, str(pg_target.bindir))

    assert str(got.value) == str(expected.value)
    assert str(got_auth.value) == str(expected_auth.value)
    assert "not-it" not in str(got_auth.value)


class _CountingStorage:
    """The real storage, counting the manifests read."""

    def __init__(self, inner: Storage) -> None:
        self._inner = inner
        self.manifests_read = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def get_bytes(self, key: str) -> bytes:
        self.manifests_read += is_manifest(key)
        return self._inner.get_bytes(key)


def test_restore_start_latest_reads_only_the_newest_manifest(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    settings = settings_for(bucket, include_dbs=["app"])
    now = datetime.now(UTC)
    for days in (3, 2, 1):
        run_backup(settings, clock=lambda days=days: now - timedelta(days=days))
    newest = run_backup(settings).set_id
    storage = _CountingStorage(open_storage(settings))

    found = resolve_set(storage, settings.upload_prefix, "latest")  # type: ignore[arg-type]

    assert found.set_id == newest and found.manifest is not None
    assert storage.manifests_read == 1
