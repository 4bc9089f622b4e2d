#!/usr/bin/env python3
"""Smoke test of the container test bed made by scripts/container-engine.sh.

    source scripts/container-engine.sh && .venv/bin/python scripts/check-container-engine.py

Checks, with testcontainers as the tests use it:
  1. PostgresContainer on $PGBACK_DOCKER_POSTGRES_IMAGE answers psycopg on its
     published port;
  2. the S3 image ($PGBACK_DOCKER_S3_IMAGE, moto) serves create_bucket, put,
     get and a multipart upload to boto3 on its published port;
  3. on one testcontainers Network, containers reach each other by alias:
     a psql client container queries the server as "db:5432", and the
     server container fetches "http://s3:5000/" by name.
Prints timings; exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

REQUIRED = (
    "DOCKER_HOST",
    "TESTCONTAINERS_RYUK_DISABLED",
    "TESTCONTAINERS_CONNECTION_MODE",
    "PGBACK_DOCKER_POSTGRES_IMAGE",
    "PGBACK_DOCKER_S3_IMAGE",
)
missing = [name for name in REQUIRED if not os.environ.get(name)]
if missing:
    sys.exit(f"missing {', '.join(missing)}: run `source scripts/container-engine.sh` first")

# testcontainers reads its configuration from the environment at import time.
import boto3  # noqa: E402
import psycopg  # noqa: E402
from botocore.config import Config  # noqa: E402
from testcontainers.community.postgres import PostgresContainer  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402
from testcontainers.core.network import Network  # noqa: E402
from testcontainers.core.wait_strategies import HttpWaitStrategy  # noqa: E402

PG_IMAGE = os.environ["PGBACK_DOCKER_POSTGRES_IMAGE"]
S3_IMAGE = os.environ["PGBACK_DOCKER_S3_IMAGE"]


@contextmanager
def timed(what: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    print(f"  {what}: {time.monotonic() - t0:.2f} s", flush=True)


def s3_container(network: Network | None = None) -> DockerContainer:
    container = DockerContainer(S3_IMAGE).with_exposed_ports(5000)
    if network is not None:
        container = container.with_network(network).with_network_aliases("s3")
    # moto answers GET / (ListBuckets) with 200 once it listens.
    return container.waiting_for(HttpWaitStrategy(5000, "/").for_status_code(200))


def check_postgres() -> None:
    print(f"postgres ({PG_IMAGE})")
    # testcontainers' readiness probe does not quote the database name: no
    # spaces there. start() that fails leaves the container: stop it then.
    pg = PostgresContainer(image=PG_IMAGE, username="tester", password="pa'ss@w:rd", dbname="my_db")
    try:
        with timed("start PostgresContainer (until psql answers inside)"):
            pg.start()
        url = pg.get_connection_url(driver=None)
        print(f"  url: {re.sub(r':[^:@/]*@', ':***@', url)}")
        with (
            timed("psycopg connect + query"),
            psycopg.connect(
                host=pg.get_container_host_ip(),
                port=int(pg.get_exposed_port(5432)),
                user=pg.username,
                password=pg.password,
                dbname=pg.dbname,
                connect_timeout=10,
            ) as conn,
        ):
            version = conn.execute("select version()").fetchone()
            current = conn.execute(
                "select current_user, current_database(), rolsuper"
                " from pg_roles where rolname = current_user"
            ).fetchone()
        assert version is not None and "PostgreSQL 15" in version[0], version
        assert current == ("tester", "my_db", True), current
        print(f"  {version[0].split(' on ')[0]}; user/db/superuser: {current}")
        # The URL form works too: the password is percent-quoted, but a space
        # in it is not (libpq then rejects the URL): avoid spaces there.
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("select 1")
        logs = pg.get_wrapped_container().logs().decode()
        ready = logs.count("database system is ready to accept connections")
        assert ready == 2, f"expected the ready line twice (init server, final server), got {ready}"
    finally:
        with timed("stop"):
            pg.stop()


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def check_s3() -> None:
    print(f"s3 ({S3_IMAGE})")
    s3c = s3_container()
    try:
        with timed("start + wait for HTTP 200"):
            s3c.start()
        endpoint = f"http://{s3c.get_container_host_ip()}:{s3c.get_exposed_port(5000)}"
        print(f"  endpoint: {endpoint}")
        s3 = s3_client(endpoint)
        with timed("create_bucket/put/get/list/multipart"):
            s3.create_bucket(Bucket="pgback-check")
            s3.put_object(Bucket="pgback-check", Key="a/b c.txt", Body=b"hello")
            body = s3.get_object(Bucket="pgback-check", Key="a/b c.txt")["Body"].read()
            assert body == b"hello", body
            mpu = s3.create_multipart_upload(Bucket="pgback-check", Key="big")
            parts = []
            for n, chunk in enumerate((b"x" * (5 * 1024 * 1024), b"y" * 10), start=1):
                part = s3.upload_part(
                    Bucket="pgback-check",
                    Key="big",
                    UploadId=mpu["UploadId"],
                    PartNumber=n,
                    Body=chunk,
                )
                parts.append({"ETag": part["ETag"], "PartNumber": n})
            s3.complete_multipart_upload(
                Bucket="pgback-check",
                Key="big",
                UploadId=mpu["UploadId"],
                MultipartUpload={"Parts": parts},
            )
            listing = s3.list_objects_v2(Bucket="pgback-check")
            assert listing["KeyCount"] == 2, listing
            head = s3.head_object(Bucket="pgback-check", Key="big")
            assert head["ContentLength"] == 5 * 1024 * 1024 + 10 and head["ETag"].endswith('-2"'), (
                head
            )
    finally:
        with timed("stop"):
            s3c.stop()


def check_network() -> None:
    print("network aliases")
    with timed("create network"):
        network = Network().create()
    try:
        pg = (
            PostgresContainer(image=PG_IMAGE, username="u", password="p", dbname="d")
            .with_network(network)
            .with_network_aliases("db")
        )
        s3c = s3_container(network)
        try:
            with timed("start db + s3 on the network"):
                pg.start()
                s3c.start()
            # A second container of the postgres image as a client: psql to db:5432.
            client = (
                DockerContainer(PG_IMAGE)
                .with_network(network)
                .with_env("PGPASSWORD", "p")
                .with_command(["sleep", "300"])
            )
            with timed("client container: psql -h db"), client:
                res = client.exec(
                    ["psql", "-h", "db", "-U", "u", "-d", "d", "-tAc", "select inet_server_addr()"]
                )
                assert res.exit_code == 0, res.output
                print(f"  psql -h db -> server address {res.output.decode().strip()}")
            # The db container fetches http://s3:5000/ by name (bash's /dev/tcp).
            probe = (
                "exec 3<>/dev/tcp/s3/5000"
                " && printf 'GET / HTTP/1.0\\r\\nHost: s3\\r\\n\\r\\n' >&3"
                " && head -n1 <&3"
            )
            with timed("db container: HTTP GET http://s3:5000/"):
                res = pg.exec(["bash", "-c", probe])
                assert res.exit_code == 0 and b" 200 " in res.output, res.output
                print(f"  {res.output.decode().strip()}")
            wrapped = pg.get_wrapped_container()
            wrapped.reload()
            inspect = wrapped.attrs["NetworkSettings"]["Networks"][network.name]
            ip, aliases = inspect.get("IPAddress"), inspect.get("Aliases")
            print(f"  db on network {network.name}: ip {ip}, aliases {aliases}")
        finally:
            s3c.stop()
            pg.stop()
    finally:
        network.remove()


def main() -> int:
    print(f"engine {os.environ['DOCKER_HOST']}; run {uuid.uuid4().hex[:8]}")
    t0 = time.monotonic()
    check_postgres()
    check_s3()
    check_network()
    print(f"all checks passed in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
