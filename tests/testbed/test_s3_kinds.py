"""The other S3 servers of the test bed (SeaweedFS, rclone serve s3) through boto3: started,
probed, used and removed like moto, and the one property the scenarios lean on: they reject
a request signed with a clock far from theirs (so a virtual clock leaking into signing fails)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from pgback.testbed import TestbedError
from pgback.testbed.common import started
from pgback.testbed.s3 import S3Process
from pgback.testbed.s3kinds import S3_KINDS, s3_kind, s3_server_of

pytestmark = pytest.mark.integration

OTHERS = ["seaweedfs", "rclone"]


@pytest.fixture(scope="module", params=OTHERS)
def server(request: pytest.FixtureRequest) -> Iterator[S3Process]:
    kind = S3_KINDS[request.param]
    if not kind.available():
        pytest.skip(f"{kind.name} is not installed: {kind.how_to_get}")
    with s3_server_of(kind.name) as running:
        yield running


def test_s3_kind_put_get_list_and_multipart_roundtrip(server: S3Process) -> None:
    bucket = f"kinds-{server.kind}"
    server.create_bucket(bucket)
    client = server.client()
    client.put_object(Bucket=bucket, Key="set/a", Body=b"alpha")
    upload = client.create_multipart_upload(Bucket=bucket, Key="set/big")
    parts = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(
                Bucket=bucket, Key="set/big", UploadId=upload["UploadId"], PartNumber=n, Body=body
            )["ETag"],
        }
        for n, body in ((1, b"x" * 5 * 1024 * 1024), (2, b"tail"))
    ]
    client.complete_multipart_upload(
        Bucket=bucket, Key="set/big", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert server.list_keys(bucket, "set/") == ["set/a", "set/big"]
    body = client.get_object(Bucket=bucket, Key="set/big")["Body"].read()
    assert len(body) == 5 * 1024 * 1024 + 4 and body.endswith(b"tail")


def test_s3_kind_rejects_wrong_credentials(server: S3Process) -> None:
    from pgback.testbed.s3 import s3_client

    client = s3_client(server.endpoint_url, "nobody", "wrong-secret", server.region)
    with pytest.raises(ClientError) as raised:
        client.list_buckets()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_s3_kind_rejects_a_signature_a_day_off(
    server: S3Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dt.datetime

    class DayAhead(real):
        @classmethod
        def utcnow(cls) -> Any:
            return real.utcnow() + dt.timedelta(days=1)

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return real.now(tz) + dt.timedelta(days=1)

    client = server.client()
    monkeypatch.setattr(botocore.auth.datetime, "datetime", DayAhead)
    with pytest.raises(ClientError, match="RequestTimeTooSkewed"):
        client.list_buckets()


@pytest.mark.parametrize("name", OTHERS)
def test_s3_kind_fixed_port_taken_raises_with_log_tail_and_leaves_nothing(name: str) -> None:
    kind = s3_kind(name)
    if not kind.available():
        pytest.skip(f"{name} is not installed: {kind.how_to_get}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = kind.make(port=sock.getsockname()[1])
        expected = rf"{name} S3 server .* exited during start-up(.|\n)*address already in use"
        with pytest.raises(TestbedError, match=expected), started(server):
            pytest.fail("the body must not run when start fails")
    assert not server.is_running()
    assert server._workdir is None  # removed
