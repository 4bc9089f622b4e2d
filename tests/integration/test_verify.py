"""`verify` re-reads a set and catches damaged objects; restore refuses damaged bytes too."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pyrage import x25519
from support import restore_to

from pgback.actions.backup import run_backup
from pgback.actions.restore import run_restore
from pgback.actions.verify import run_verify
from pgback.config import Settings
from pgback.errors import IntegrityError
from pgback.manifest import KIND_DATABASE, FileEntry, Manifest
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
DATABASES = ["app", "my db"]


def encryption_keys(mode: str) -> dict[str, str]:
    if mode == "plain":
        return {}
    identity = x25519.Identity.generate()
    return {
        "encrypt": "true",
        "cipher_public_key": str(identity.to_public()),
        "cipher_private_key": str(identity),
    }


def damage(s3: S3Server, bucket: str, key: str, how: str) -> None:
    client = s3.client()
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    if how == "corrupted":
        data[len(data) // 2] ^= 0x01  # one bit, same size
    else:
        del data[len(data) // 2 :]
    client.put_object(Bucket=bucket, Key=key, Body=bytes(data))


def database_entry(manifest: Manifest, name: str) -> FileEntry:
    entry = manifest.file(KIND_DATABASE, name)
    assert entry is not None
    return entry


@pytest.mark.parametrize("mode", ["plain", "x25519"])
def test_verify_intact_set_every_file_checks_out(
    pg: PostgresServer, bucket: str, settings_for: SettingsFor, mode: str
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES, **encryption_keys(mode))
    manifest = run_backup(settings).manifest

    set_id, checks = run_verify(settings, "latest")

    assert set_id == manifest.set_id
    assert [c.entry for c in checks] == list(manifest.files)
    assert all(c.ok for c in checks), [c.detail for c in checks]
    for check in checks:
        if check.entry.kind == KIND_DATABASE:
            entries = int(check.detail.rsplit(":", 1)[1].split()[0])
            assert entries > 5, check.detail  # type, schema, tables, data, index, view...


@pytest.mark.parametrize("mode", ["plain", "x25519"])
@pytest.mark.parametrize("how", ["corrupted", "truncated"])
def test_verify_damaged_object_fails_naming_that_file_only(
    pg: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
    mode: str,
    how: str,
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES, **encryption_keys(mode))
    manifest = run_backup(settings).manifest
    damaged = database_entry(manifest, "app")
    damage(s3, bucket, damaged.key, how)

    _, checks = run_verify(settings, manifest.set_id)

    failed = [c for c in checks if not c.ok]
    assert [c.entry.name for c in failed] == ["app"]
    assert damaged.key in failed[0].detail
    expected = "corrupted" if how == "corrupted" else "truncated"
    assert expected in failed[0].detail
    assert all(c.ok for c in checks if c.entry.name != "app")


def test_verify_encrypted_set_without_identity_checks_stored_bytes_only(
    pg: PostgresServer, s3: S3Server, bucket: str, settings_for: SettingsFor
) -> None:
    keys = encryption_keys("x25519")
    del keys["cipher_private_key"]
    settings = settings_for(bucket, include_dbs=DATABASES, **keys)
    manifest = run_backup(settings).manifest

    _, intact = run_verify(settings, "latest")
    damage(s3, bucket, database_entry(manifest, "my db").key, "corrupted")
    _, after = run_verify(settings, "latest")

    assert all(c.ok and "not decrypted" in c.detail for c in intact)
    assert [c.entry.name for c in after if not c.ok] == ["my db"]


def test_restore_corrupted_object_stops_with_integrity_error_naming_it(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    settings = settings_for(bucket, include_dbs=DATABASES, **encryption_keys("x25519"))
    manifest = run_backup(settings).manifest
    damaged = database_entry(manifest, "my db")
    damage(s3, bucket, damaged.key, "corrupted")

    started = time.monotonic()
    with pytest.raises(IntegrityError) as caught:
        run_restore(settings, "latest", restore_to(pg_target))

    assert damaged.key in str(caught.value)
    assert time.monotonic() - started < 4  # pg_restore is stopped, not waited for
