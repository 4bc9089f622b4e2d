"""The local backend: real PostgreSQL processes of the asked majors and an S3 server process
(moto, SeaweedFS or rclone), from pgback.testbed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pgback.scenario.providers.base import PostgresService, Services
from pgback.testbed.majors import install_for
from pgback.testbed.postgres import postgres_server
from pgback.testbed.proxy import CuttableProxy
from pgback.testbed.s3 import S3Process
from pgback.testbed.s3kinds import DEFAULT_S3, s3_server_of


class ProxiedS3:
    """An S3 server behind a proxy that can cut the network without losing its objects (moto
    keeps them in memory)."""

    def __init__(self, server: S3Process) -> None:
        self._server = server
        self._proxy = CuttableProxy(server.host, server.port)
        self.endpoint_url = self._proxy.endpoint_url
        self.access_key = server.access_key
        self.secret_key = server.secret_key
        self.region = server.region

    def create_bucket(self, name: str) -> None:
        self._server.create_bucket(name)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return self._server.list_keys(bucket, prefix)

    def client(self) -> Any:
        return self._server.client()

    def cut(self) -> None:
        self._proxy.cut()

    def cut_after(self, nbytes: int) -> None:
        self._proxy.cut_after(nbytes)

    def heal(self) -> None:
        self._proxy.heal()

    def log_tail(self, lines: int = 40) -> str:
        return self._server.log_tail(lines)

    def close(self) -> None:
        self._proxy.close()


class LocalProvider:
    name = "local"

    @contextmanager
    def services(
        self,
        wanted: tuple[str, ...],
        workdir: Path,
        *,
        versions: dict[str, int | None] | None = None,
        s3: str | None = None,
    ) -> Iterator[Services]:
        del workdir  # the test bed keeps its servers in their own temporary directories
        versions = versions or {}
        # one superuser password for every server, as in the seed's compose file: importing
        # postgres1's globals into postgres2 by hand then keeps postgres2 reachable
        password = secrets.token_urlsafe(18)
        with ExitStack() as stack:
            postgres: dict[str, PostgresService] = {}
            for name in wanted:
                if name.startswith("postgres"):
                    major = versions.get(name)
                    bindir = install_for(major).bindir if major is not None else None
                    server = postgres_server(bindir=bindir, password=password)
                    postgres[name] = stack.enter_context(server)
            proxied = None
            if "s3" in wanted:
                proxied = ProxiedS3(stack.enter_context(s3_server_of(s3 or DEFAULT_S3)))
                stack.callback(proxied.close)

            def start_postgres(name: str, major: int) -> PostgresService:
                server = postgres_server(bindir=install_for(major).bindir, password=password)
                postgres[name] = stack.enter_context(server)
                return postgres[name]

            yield Services(postgres=postgres, s3=proxied, start_postgres=start_postgres)
