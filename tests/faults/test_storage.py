"""Case 1 and 4, and transient errors: S3 cut mid-upload; bucket missing; wrong credentials;
no permission; errors that go away (retried, bounded backoff) and errors that do not."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pgback.actions.backup import run_backup
from pgback.config import load_settings
from pgback.testbed import S3Server, s3_server
from pgback.testbed.proxy import CuttableProxy

from .conftest import EnvFor
from .harness import (
    Bucket,
    Canaries,
    FaultyS3,
    assert_failed_cleanly,
    assert_only_good_sets,
    run_pgback,
)

pytestmark = pytest.mark.integration


def test_backup_s3_cut_mid_upload_exit_4_then_next_run_and_purge_leave_nothing_behind(
    env_for: EnvFor,
    store: Bucket,
    s3: S3Server,
    canaries: Canaries,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    cut = CuttableProxy(s3.host, s3.port)
    try:
        env = env_for(
            store,
            endpoint=cut.endpoint_url,
            include_dbs="big",
            compress="none",
            s3_part_size_mib=5,
            keep_last=1,
        )
        # the network goes down in the middle of the big dump's second part (its first part
        # is 5 MiB; everything before it a few KiB)
        cut.cut_after(8 * 1024 * 1024)
        outcome = run_pgback(env, "backup")
        assert cut.is_cut
    finally:
        cut.close()

    assert_failed_cleanly(
        outcome, 4, "S3 endpoint", cut.endpoint_url, "run the backup again", canaries=canaries
    )
    assert_only_good_sets(store, before)
    # the endpoint is back: what the cut-off run left reads as incomplete, and is refused
    healthy = env_for(store, keep_last=1, cipher_private_key=canaries.age_identity)
    (partial,) = store.set_ids() - {good}
    refused = run_pgback(healthy, "verify", partial)
    assert_failed_cleanly(refused, 3, f"set {partial} is incomplete", canaries=canaries)
    # the next run (its purge) clears it, uploads included
    settings = load_settings(env=healthy)
    later = datetime.now(UTC) + timedelta(seconds=2)
    newest = run_backup(settings, clock=lambda: later).set_id
    purge = run_pgback(healthy, "purge")
    assert purge.returncode == 0, purge.describe()
    assert store.uploads() == []
    assert store.set_ids() == {newest}, store.objects()  # the old good set went by keep_last=1


def test_backup_bucket_missing_exit_4_says_create_it(
    env_for: EnvFor, store: Bucket, canaries: Canaries
) -> None:
    env = env_for(store, s3_bucket="no-such-bucket-here")

    outcome = run_pgback(env, "backup")

    assert_failed_cleanly(
        outcome, 4, "'no-such-bucket-here' does not exist", "create it", canaries=canaries
    )
    assert "pg_dump" not in outcome.programs()  # refused before dumping anything


def test_backup_transient_s3_errors_are_retried_and_the_set_completes(
    env_for: EnvFor, store: Bucket, proxy: FaultyS3, canaries: Canaries
) -> None:
    proxy.add("HEAD", r".", "status", status=500, code="InternalError", times=1)
    proxy.add("PUT", r"pg_globals", "drop", times=1)  # connection reset, no answer
    proxy.add("POST", r"\?uploads", "status", status=503, code="SlowDown", times=1)
    proxy.add("PUT", r"partNumber=1$", "status", status=503, code="SlowDown", times=1)
    proxy.add("PUT", r"manifest\.json", "status", status=500, code="InternalError", times=1)
    env = env_for(
        store,
        endpoint=proxy.endpoint_url,
        include_dbs="big",
        compress="none",
        s3_part_size_mib=5,
        s3_max_attempts=3,
    )

    outcome = run_pgback(env, "backup")

    assert outcome.returncode == 0, outcome.describe()
    assert [rule.hits for rule in proxy.rules] == [1, 1, 1, 1, 1]
    (set_id,) = store.set_ids_with_manifest()
    verify = run_pgback(env_for(store, cipher_private_key=canaries.age_identity), "verify", set_id)
    assert verify.returncode == 0, verify.describe()
    assert store.uploads() == []


def test_backup_persistent_s3_errors_stop_after_s3_max_attempts_exit_4(
    env_for: EnvFor,
    store: Bucket,
    proxy: FaultyS3,
    canaries: Canaries,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    proxy.add("PUT", r"pg_globals", "status", status=503, code="SlowDown")
    env = env_for(store, endpoint=proxy.endpoint_url, s3_max_attempts=3, keep_last=1)

    outcome = run_pgback(env, "backup")

    assert_failed_cleanly(
        outcome, 4, "uploading", "pg_globals", "SlowDown", "s3_max_attempts", canaries=canaries
    )
    assert outcome.seconds < 20  # bounded backoff
    assert proxy.count("PUT", r"pg_globals") == 3  # s3_max_attempts tries, never more
    assert store.uploads() == []
    assert_only_good_sets(store, before)


# --- credentials and permissions: a moto server that checks them --------------------------


ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": "*",
        }
    ],
}


@dataclass
class AuthS3:
    server: S3Server
    bucket: str
    admin: tuple[str, str]
    reader: tuple[str, str]


def _iam(server: S3Server, key: tuple[str, str] = ("setup", "setup")) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
    )


def _user(iam: Any, name: str, policy: dict[str, Any]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def auth_s3() -> Iterator[AuthS3]:
    """A moto server enforcing credentials and IAM policies (moto's `reset-auth` API sets
    INITIAL_NO_AUTH_ACTION_COUNT to 0 once the users exist): an admin and a read-only user."""
    with s3_server() as server:
        admin = _user(_iam(server), "admin", ALL)
        request = urllib.request.Request(
            server.endpoint_url + "/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200
        reader = _user(_iam(server, admin), "reader", READ_ONLY)
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=server.region,
            aws_access_key_id=admin[0],
            aws_secret_access_key=admin[1],
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket="guarded")
        yield AuthS3(server, "guarded", admin, reader)


@pytest.mark.parametrize(
    ("who", "phrases"),
    [
        ("wrong secret", ("S3 rejected the credentials", "SignatureDoesNotMatch", "s3_secret")),
        ("unknown key id", ("S3 rejected the credentials", "InvalidAccessKeyId", "s3_key_id")),
        ("read-only key", ("access denied", "'guarded'", "permission")),
    ],
)
def test_backup_bad_s3_credentials_or_permission_exit_4_names_the_fix(
    who: str,
    phrases: tuple[str, ...],
    auth_s3: AuthS3,
    env_for: EnvFor,
    canaries: Canaries,
) -> None:
    key_id, secret = {
        "wrong secret": (auth_s3.admin[0], canaries.s3_secret),
        "unknown key id": (canaries.s3_key_id, canaries.s3_secret),
        "read-only key": auth_s3.reader,
    }[who]
    store = Bucket(auth_s3.server, auth_s3.bucket, prefix=f"p{time.monotonic_ns()}")
    env = env_for(store, endpoint=auth_s3.server.endpoint_url, s3_key_id=key_id, s3_secret=secret)

    outcome = run_pgback(env, "backup")

    assert_failed_cleanly(outcome, 4, *phrases, canaries=canaries)
    admin = boto3.client(
        "s3",
        endpoint_url=auth_s3.server.endpoint_url,
        region_name=auth_s3.server.region,
        aws_access_key_id=auth_s3.admin[0],
        aws_secret_access_key=auth_s3.admin[1],
        config=Config(s3={"addressing_style": "path"}),
    )
    listed = admin.list_objects_v2(Bucket=auth_s3.bucket, Prefix=store.prefix + "/")
    assert listed.get("KeyCount", 0) == 0
    uploads = admin.list_multipart_uploads(Bucket=auth_s3.bucket, Prefix=store.prefix + "/")
    assert uploads.get("Uploads", []) == []
