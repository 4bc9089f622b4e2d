"""The S3 test bed (moto's server in a subprocess) through boto3: no mocks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from pgback.testbed import S3Server, TestbedError, s3_server
from pgback.testbed.ports import port_accepts

pytestmark = pytest.mark.integration

# Fail fast once the endpoint is gone instead of retrying for seconds.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """One server shared by the tests that only store and read objects."""
    with s3_server() as started:
        yield started


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_s3_server_put_get_list_roundtrip(s3: S3Server) -> None:
    s3.create_bucket("roundtrip")
    client = s3.client()

    client.put_object(Bucket="roundtrip", Key="set/a.dump", Body=b"alpha")
    client.put_object(Bucket="roundtrip", Key="set/b.dump", Body=b"beta")
    client.put_object(Bucket="roundtrip", Key="other/c", Body=b"gamma")

    assert client.get_object(Bucket="roundtrip", Key="set/b.dump")["Body"].read() == b"beta"
    assert s3.list_keys("roundtrip") == ["other/c", "set/a.dump", "set/b.dump"]
    assert s3.list_keys("roundtrip", prefix="set/") == ["set/a.dump", "set/b.dump"]


def test_s3_server_multipart_upload_completes(s3: S3Server) -> None:
    s3.create_bucket("multipart")
    client = s3.client()
    part = b"x" * (5 * 1024 * 1024)  # S3's minimum size for every part but the last
    upload = client.create_multipart_upload(Bucket="multipart", Key="big")
    etags = [
        client.upload_part(
            Bucket="multipart", Key="big", UploadId=upload["UploadId"], PartNumber=n, Body=body
        )["ETag"]
        for n, body in ((1, part), (2, b"tail"))
    ]

    client.complete_multipart_upload(
        Bucket="multipart",
        Key="big",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )

    assert client.head_object(Bucket="multipart", Key="big")["ContentLength"] == len(part) + 4


def test_s3_server_env_lets_child_boto3_connect(s3: S3Server) -> None:
    s3.create_bucket("from-child")
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    script = "import boto3; boto3.client('s3').put_object(Bucket='from-child', Key='k', Body=b'v')"

    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **s3.env()},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert s3.list_keys("from-child") == ["k"]


def test_s3_server_kill_makes_endpoint_unreachable() -> None:
    with s3_server() as started:
        client = started.client(NO_RETRIES)
        client.list_buckets()

        started.kill()

        assert not started.is_running()
        assert not port_accepts(started.host, started.port)
        with pytest.raises(EndpointConnectionError):
            client.list_buckets()


def test_s3_server_restart_same_port_serves_empty_store() -> None:
    with s3_server() as started:
        started.create_bucket("forgotten")
        endpoint = started.endpoint_url

        started.stop()
        started.start()

        assert started.endpoint_url == endpoint
        assert started.client().list_buckets()["Buckets"] == []


def test_s3_server_context_body_raises_process_and_workdir_removed() -> None:
    with pytest.raises(ZeroDivisionError), s3_server() as started:
        log_dir = started.log_path.parent
        port = started.port
        _ = 1 / 0

    assert not started.is_running()
    assert not log_dir.exists()
    assert not port_accepts("127.0.0.1", port)


def test_s3_server_fixed_port_taken_raises_with_log_tail(
    listening_socket: socket.socket,
) -> None:
    taken_port = listening_socket.getsockname()[1]

    with pytest.raises(TestbedError, match="Address already in use"), s3_server(port=taken_port):
        pytest.fail("the body must not run when start fails")


def test_s3_server_picked_port_taken_retries_on_new_port(
    listening_socket: socket.socket,
) -> None:
    taken_port = listening_socket.getsockname()[1]
    server = S3Server()
    server.port = taken_port  # as if another worker grabbed the picked port first
    try:
        server.start()

        assert server.port != taken_port
        assert server.client().list_buckets()["Buckets"] == []
    finally:
        server.destroy()


def test_s3_server_two_servers_get_different_ports() -> None:
    with s3_server() as first, s3_server() as second:
        first.create_bucket("only-in-first")

        assert first.port != second.port
        assert second.client().list_buckets()["Buckets"] == []
