"""Fixtures for the sidecar tests: fake backups for pure scheduling, real servers otherwise."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pgback.config import KEYS, Settings, load_settings
from pgback.testbed import PostgresServer, S3Server, postgres_server, s3_server

# names that would leak the developer's own configuration into a test
_OWN_CONFIG = tuple(
    {spec.env for spec in KEYS.values()} | {a for s in KEYS.values() for a in s.aliases}
)


@pytest.fixture(autouse=True)
def _pgback_logs_reach_caplog(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.setup_logging() turns propagation off; caplog listens on the root logger."""
    logger = logging.getLogger("pgback")
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "level", logging.INFO)


def clean_environ() -> dict[str, str]:
    """os.environ without pgback's, the seed's, libpq's and boto3's settings."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PGBACK_", "PG", "AWS_"))
        and name not in _OWN_CONFIG
        and not any(name == n + "_FILE" for n in _OWN_CONFIG)
    }


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        server.execute("CREATE DATABASE small")
        server.execute(
            "CREATE TABLE dummy (id int PRIMARY KEY, label text);"
            "INSERT INTO dummy SELECT g, 'row ' || g FROM generate_series(1, 1000) g",
            dbname="small",
        )
        yield server


@pytest.fixture(scope="session")
def big_db(pg: PostgresServer) -> str:
    """A database big enough that its backup takes a few seconds (2 M rows of hex text: a
    157 MB dump, about 1.5 s at zstd level 1, 9 s at level 12)."""
    pg.execute("CREATE DATABASE big")
    pg.execute(
        "CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b "
        "FROM generate_series(1, 2000000) g",
        dbname="big",
    )
    return "big"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@dataclass
class Bed:
    """One test's slice of the shared servers: its own bucket and state directory."""

    pg: PostgresServer
    s3: S3Server
    bucket: str
    state_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment with PGBACK_* settings, for a child `pgback` or load_settings
        (in-process too: nothing relies on libpq's or boto3's variables in os.environ)."""
        return {
            **clean_environ(),
            "PGBACK_HOST": self.pg.host,
            "PGBACK_PORT": str(self.pg.port),
            "PGBACK_USER": self.pg.user,
            "PGBACK_PASSWORD": self.pg.password,
            "PGBACK_DBNAME": "postgres",
            "PGBACK_S3_ENDPOINT": self.s3.endpoint_url,
            "PGBACK_S3_KEY_ID": self.s3.access_key,
            "PGBACK_S3_SECRET": self.s3.secret_key,
            "PGBACK_S3_REGION": self.s3.region,
            "PGBACK_S3_BUCKET": self.bucket,
            "PGBACK_S3_FORCE_PATH": "true",
            "PGBACK_PG_BIN_DIR": str(self.pg.bindir),
            "PGBACK_STATE_DIR": str(self.state_dir),
            "PGBACK_INCLUDE_DBS": "small",
            "PGBACK_PROGRESS": "never",
            **extra,
        }

    def settings(self, **extra: str) -> Settings:
        return load_settings(env=self.env(**extra))

    def keys(self, prefix: str = "") -> list[str]:
        return self.s3.list_keys(self.bucket, prefix)

    def manifests(self) -> list[str]:
        return [key for key in self.keys() if key.endswith("/manifest.json")]

    def multipart_uploads(self) -> list[str]:
        answer = self.s3.client().list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in answer.get("Uploads", [])]


@pytest.fixture
def bed(pg: PostgresServer, s3: S3Server, tmp_path: Path) -> Bed:
    bucket = f"sidecar-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(bucket)
    state_dir = tmp_path / "state"
    return Bed(pg, s3, bucket, state_dir)


class WebhookReceiver:
    """A webhook and ping endpoint: records every request (method, path, body text), and the
    JSON bodies apart (`bodies`)."""

    def __init__(self, code: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.requests.append(("POST", self.path, body))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    receiver.bodies.append(json.loads(body))
                self.send_response(code)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.requests.append(("GET", self.path, ""))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/secret-token"

    def paths(self) -> list[str]:
        return [path for _method, path, _body in self.requests]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver()
    yield started
    started.server.shutdown()
    started.server.server_close()
