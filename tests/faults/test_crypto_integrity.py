"""Cases 5 and 6: a wrong age identity or passphrase at restore and at verify; a corrupted and
a truncated object, detected by verify and restore, which name the file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pgback.testbed import PostgresServer

from .conftest import EnvFor
from .harness import (
    Bucket,
    Canaries,
    WatchedRun,
    assert_failed_cleanly,
    assert_no_secrets,
    assert_only_good_sets,
    run_pgback,
)

pytestmark = pytest.mark.integration


def target_args(target: PostgresServer) -> list[str]:
    return ["--target", f"host={target.host} port={target.port} user={target.user}"]


def restore_env(env: dict[str, str], target: PostgresServer) -> dict[str, str]:
    return {**env, "PGBACK_TARGET_PASSWORD": target.password}


def untouched(target: PostgresServer) -> bool:
    databases = {row[0] for row in target.query("SELECT datname FROM pg_database")}
    roles = {row[0] for row in target.query("SELECT rolname FROM pg_roles")}
    tables = target.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    return (
        databases == {"postgres", "template0", "template1"}
        and not [r for r in roles if not r.startswith("pg_") and r != "postgres"]
        and tables[0][0] == 0
    )


def test_restore_and_verify_wrong_age_identity_exit_6_target_untouched(
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    target: PostgresServer,
    good_set: Callable[..., str],
) -> None:
    set_id = good_set()
    before = {set_id: store.snapshot(set_id)}
    env = restore_env(env_for(store, cipher_private_key=canaries.wrong_identity), target)

    restore = run_pgback(env, "restore", set_id, *target_args(target))
    verify = run_pgback(env, "verify", set_id)

    for outcome in (restore, verify):
        assert_failed_cleanly(
            outcome,
            6,
            f"backups/{set_id}/",
            "none of the given age identities can decrypt it",
            "cipher_private_key",
            canaries=canaries,
        )
    assert untouched(target)
    assert "FAILED" in verify.stdout
    assert_only_good_sets(store, before)


def test_restore_and_verify_wrong_passphrase_exit_6_target_untouched(
    env_for: EnvFor, store: Bucket, canaries: Canaries, target: PostgresServer
) -> None:
    passphrase_mode = {"cipher_public_key": None, "cipher_pass": canaries.passphrase}
    backup = run_pgback(env_for(store, **passphrase_mode), "backup")
    assert backup.returncode == 0, backup.describe()
    set_id = backup.stdout.split()[0]
    before = {set_id: store.snapshot(set_id)}
    wrong = {**passphrase_mode, "cipher_pass": canaries.wrong_passphrase}
    env = restore_env(env_for(store, **wrong), target)

    # at once: each spends seconds in scrypt before it can fail
    restoring = WatchedRun(env, "restore", "latest", *target_args(target))
    verifying = WatchedRun(env, "verify", set_id)
    restore, verify = restoring.finish(), verifying.finish()

    for outcome in (restore, verify):
        assert_failed_cleanly(
            outcome, 6, "wrong passphrase", "identity.age", "cipher_pass", canaries=canaries
        )
    assert untouched(target)
    assert_only_good_sets(store, before)
    assert_no_secrets(backup, canaries, store.all_text())


def _damage(store: Bucket, key: str, how: str) -> None:
    client = store.s3.client()
    data = client.get_object(Bucket=store.name, Key=key)["Body"].read()
    if how == "corrupted":
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
    else:
        data = data[: len(data) // 2]
    client.put_object(Bucket=store.name, Key=key, Body=data)


@pytest.mark.parametrize(
    ("how", "encrypted", "database"),
    [
        ("corrupted", True, "big"),  # age's authentication fails mid-stream
        ("truncated", True, "small"),  # age's last chunk is missing; the size differs
        ("corrupted", False, "big"),  # zstd's frame checksum fails
    ],
    ids=["age-corrupted", "age-truncated", "zstd-corrupted"],
)
def test_verify_and_restore_damaged_object_exit_7_name_the_file(
    how: str,
    encrypted: bool,
    database: str,
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    target: PostgresServer,
    good_set: Callable[..., str],
) -> None:
    keys = {} if encrypted else {"encrypt": "false"}
    set_id = good_set(include_dbs=database, **keys)
    key = next(k for k in store.snapshot(set_id) if f"/{database}.dump" in k)
    _damage(store, key, how)
    env = restore_env(env_for(store, cipher_private_key=canaries.age_identity, **keys), target)

    verify = run_pgback(env, "verify", set_id)
    restore = run_pgback(env, "restore", set_id, *target_args(target))

    for outcome in (verify, restore):
        assert_failed_cleanly(outcome, 7, key, "use another set", canaries=canaries)
    assert untouched(target)  # a half-restored database it created was dropped
    if database == "big":  # pg_restore had created it and loaded part of the stream
        assert "removed database 'big'" in restore.stderr
    assert verify.stdout.count("FAILED") == 1, verify.stdout
    assert "OK" in verify.stdout
