"""Case 9: clock skew (a set id in the future) and objects that are not ours (folders whose
name is no set id, or an impossible one): `list` ignores the foreign ones, `purge` and a
backup's purge never touch them, and a set from the future never gets a good set purged."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pgback.actions.backup import run_backup
from pgback.config import load_settings

from .conftest import EnvFor
from .harness import Bucket, Canaries, assert_no_secrets, run_pgback

pytestmark = pytest.mark.integration

FOREIGN_KEYS = [
    "backups/README.txt",
    "backups/notaset/manifest.json",
    "backups/2025-01-01/app.dump",
    "backups/20250101T000000Z.old/manifest.json",
    "backups/20251399T256199Z/manifest.json",  # shaped like a set id, but no such date
    "backups/20200101T000000Z/nested/deep.txt",  # not directly inside a set folder
    "elsewhere/20200101T000000Z/manifest.json",  # outside the prefix
]
FOREIGN_UPLOADS = ["backups/notaset/big.bin", "elsewhere/20200101T000000Z/x.dump"]


def test_future_set_and_foreign_objects_list_ignores_purge_never_touches_good_sets_kept(
    env_for: EnvFor, store: Bucket, canaries: Canaries, good_set: Callable[..., str]
) -> None:
    old = good_set(hours_ago=48)
    future_start = datetime.now(UTC) + timedelta(days=3650)
    future = run_backup(load_settings(env=env_for(store)), clock=lambda: future_start).set_id
    client = store.s3.client()
    for key in FOREIGN_KEYS:
        client.put_object(Bucket=store.name, Key=key, Body=b"not pgback's")
    for key in FOREIGN_UPLOADS:
        client.create_multipart_upload(Bucket=store.name, Key=key)
    foreign = {k: v for k, v in store.objects().items() if k in FOREIGN_KEYS}
    env = env_for(store, keep_last=1)

    listed = run_pgback(env, "list", "--json")
    backup = run_pgback(env, "backup")
    purge = run_pgback(env, "purge")

    for outcome in (listed, backup, purge):
        assert outcome.returncode == 0, outcome.describe()
        assert_no_secrets(outcome, canaries)
    assert [s["id"] for s in json.loads(listed.stdout)] == [future, old]
    new = backup.stdout.split()[0]
    # the run's own set is the newest real one: kept, whatever the set from the future says
    assert store.set_ids_with_manifest() == {future, new}, (backup.stdout, purge.stdout)
    assert old not in store.set_ids()  # keep_last=1 removed the older real set
    assert {k: v for k, v in store.objects().items() if k in FOREIGN_KEYS} == foreign
    assert sorted(store.uploads()) == sorted(FOREIGN_UPLOADS)
    assert "in the future (clock skew?)" in purge.stdout
