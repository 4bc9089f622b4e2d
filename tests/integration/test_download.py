"""`download`: a set as stored, or as the standard files pg_restore and psql read."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pyrage import x25519

from pgback.actions.backup import run_backup
from pgback.actions.download import run_download
from pgback.config import Settings
from pgback.errors import UsageError
from pgback.manifest import Manifest
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]


def pg_restore_list(server: PostgresServer, dump: Path) -> str:
    return subprocess.run(
        [str(server.bindir / "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_download_as_stored_gives_the_exact_objects_and_the_manifest(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    identity = x25519.Identity.generate()
    settings = settings_for(
        bucket,
        include_dbs=["my db", "slash/and\\back"],
        encrypt=True,
        cipher_public_key=str(identity.to_public()),
    )
    manifest = run_backup(settings).manifest

    files = run_download(settings, manifest.set_id, tmp_path / "dl")

    assert [f.entry for f in files] == list(manifest.files)
    client = s3.client()
    for item in files:
        assert item.path.parent == tmp_path / "dl"
        assert item.path.name == item.entry.key.rsplit("/", 1)[1]
        stored = client.get_object(Bucket=bucket, Key=item.entry.key)["Body"].read()
        assert item.path.read_bytes() == stored
    assert Manifest.from_json((tmp_path / "dl" / "manifest.json").read_text()) == manifest
    assert not list((tmp_path / "dl").glob(".partial-*"))


def test_download_unencrypted_uncompressed_set_is_usable_as_is(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = settings_for(bucket, include_dbs="ünïcødé ✓ データ", compress="none")
    run_backup(settings)

    files = {f.entry.name: f.path for f in run_download(settings, "latest", tmp_path / "dl")}

    dump = files["ünïcødé ✓ データ"]
    assert dump.name == "%C3%BCn%C3%AFc%C3%B8d%C3%A9%20%E2%9C%93%20%E3%83%87%E3%83%BC%E3%82%BF.dump"
    assert "TABLE DATA public items" in pg_restore_list(pg, dump)
    assert "CREATE ROLE alice;" in files["pg_globals.sql"].read_text()


def test_download_into_a_directory_holding_the_files_is_refused(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor, tmp_path: Path
) -> None:
    settings = settings_for(bucket, include_dbs="my db")
    run_backup(settings)
    dest = tmp_path / "dl"
    run_download(settings, "latest", dest, decrypt=True)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dest.iterdir()}

    with pytest.raises(UsageError, match="already exists: choose an empty --dest"):
        run_download(settings, "latest", dest, decrypt=True)

    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dest.iterdir()}
    assert after == before
