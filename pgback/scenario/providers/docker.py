"""The docker backend: the same scenario services as containers, through testcontainers.

Containers share one network and reach each other by name, like the compose file (`postgres1`,
`postgres2`, `s3`, `sidecar`); this process reaches them on published ports. Images come from
configuration so the same tests use public images where Docker exists and locally built ones
here (scripts/container-engine.sh exports them):

- PGBACK_DOCKER_POSTGRES_IMAGE (default postgres:17)
- PGBACK_DOCKER_S3_IMAGE (default motoserver/moto:5.2.5, port 5000; MinIO's Docker Hub images
  no longer pull)
- PGBACK_DOCKER_SIDECAR_IMAGE (default: built from the project's Dockerfile)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from pgback.scenario.providers.base import PostgresService, Services
from pgback.testbed.pginstall import find_bindir
from pgback.testbed.s3 import list_keys, s3_client

DEFAULT_POSTGRES_IMAGE = "postgres:17"
DEFAULT_S3_IMAGE = "motoserver/moto:5.2.5"
S3_PORT = 5000
S3_KEY = "scenario"
S3_REGION = "us-east-1"


def _image(name: str, default: str) -> str:
    return os.environ.get(name) or default


class PostgresContainerService:
    """A PostgreSQL container; `recreate()` replaces it by a fresh one under the same alias."""

    user = "postgres"

    def __init__(self, name: str, network: Any, password: str) -> None:
        self.name = name
        self.password = password
        self._network = network
        self._container: Any = None
        self.host = "127.0.0.1"
        self.port = 0
        self.start()

    def start(self) -> None:
        from testcontainers.community.postgres import PostgresContainer

        container = (
            PostgresContainer(
                image=_image("PGBACK_DOCKER_POSTGRES_IMAGE", DEFAULT_POSTGRES_IMAGE),
                username=self.user,
                password=self.password,
                dbname="postgres",
            )
            .with_network(self._network)
            .with_network_aliases(self.name)
        )
        _start(container)
        self._container = container
        self.host = container.get_container_host_ip()
        if self.host == "localhost":
            self.host = "127.0.0.1"  # published ports answer on IPv4 only under podman
        self.port = int(container.get_exposed_port(5432))

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()
            self._container = None

    def recreate(self) -> None:
        self.stop()
        self.start()

    def _connect(self, dbname: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def query(
        self, statement: str, params: Any = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        with self._connect(dbname) as conn:
            return conn.execute(statement, params).fetchall()

    def execute(self, statement: str, params: Any = None, *, dbname: str = "postgres") -> None:
        with self._connect(dbname) as conn:
            conn.execute(statement, params)

    def log_tail(self, lines: int = 40) -> str:
        return _container_logs(self._container, lines)


class S3ContainerService:
    def __init__(self, network: Any) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        container = (
            DockerContainer(_image("PGBACK_DOCKER_S3_IMAGE", DEFAULT_S3_IMAGE))
            .with_exposed_ports(S3_PORT)
            .with_network(network)
            .with_network_aliases("s3")
            .waiting_for(HttpWaitStrategy(S3_PORT, "/").for_status_code(200))
        )
        _start(container)
        self._container = container
        host = container.get_container_host_ip()
        host = "127.0.0.1" if host == "localhost" else host
        self.endpoint_url = f"http://{host}:{container.get_exposed_port(S3_PORT)}"
        self.internal_endpoint = f"http://s3:{S3_PORT}"
        self.access_key = S3_KEY
        self.secret_key = S3_KEY
        self.region = S3_REGION

    def _client(self) -> Any:
        return s3_client(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def create_bucket(self, name: str) -> None:
        self._client().create_bucket(Bucket=name)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return list_keys(self._client(), bucket, prefix)

    def cut(self) -> None:
        raise NotImplementedError("s3_fault needs the local backend (a proxy in front of S3)")

    def cut_after(self, nbytes: int) -> None:
        self.cut()

    def heal(self) -> None:
        self.cut()

    def stop(self) -> None:
        self._container.stop()

    def log_tail(self, lines: int = 40) -> str:
        return _container_logs(self._container, lines)


class SidecarContainerService:
    """The pgback image, idle (`serve` with cron disabled) so steps can exec pgback in it."""

    def __init__(self, network: Any, image: str) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        container = (
            DockerContainer(image)
            .with_network(network)
            .with_network_aliases("sidecar")
            .with_env("PGBACK_DISABLE_CRON", "true")
            .with_command("serve")
            .waiting_for(LogMessageWaitStrategy("cron disabled"))
        )
        _start(container)
        self._container = container

    def exec(self, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
        result = self._container.get_wrapped_container().exec_run(argv, environment=env)
        return int(result.exit_code), result.output.decode("utf-8", "replace")

    def list_files(self, paths: list[str]) -> list[str]:
        code, output = self.exec(["find", *paths, "-type", "f"], {})
        del code  # find exits 1 when a path does not exist: that is fine here
        return [line for line in output.splitlines() if line and "No such file" not in line]

    def stop(self) -> None:
        self._container.stop()

    def log_tail(self, lines: int = 40) -> str:
        return _container_logs(self._container, lines)


def _start(container: Any) -> None:
    try:
        container.start()
    except BaseException:
        container.stop()  # a failed start leaves the container behind
        raise


def _container_logs(container: Any, lines: int) -> str:
    if container is None:
        return "(container stopped)"
    try:
        stdout, stderr = container.get_logs()
    except Exception as exc:  # the engine may be the thing that failed
        return f"(logs unavailable: {exc})"
    text = (stdout or b"").decode("utf-8", "replace") + (stderr or b"").decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _client_bindir(postgres: dict[str, PostgresService]) -> Path:
    """Client tools of the servers' major version when installed (pg_restore 18 emits settings
    an older server rejects), else the test bed's (newer tools dump older servers fine)."""
    if os.environ.get("PGBACK_PG_BINDIR") or not postgres:
        return find_bindir()
    first = next(iter(postgres.values()))
    major = int(first.query("SHOW server_version_num")[0][0]) // 10000
    debian = Path(f"/usr/lib/postgresql/{major}/bin")
    if (debian / "pg_restore").exists():
        return debian
    return find_bindir()


def _sidecar_image(stack: ExitStack) -> str:
    configured = os.environ.get("PGBACK_DOCKER_SIDECAR_IMAGE")
    if configured:
        return configured
    from testcontainers.core.image import DockerImage

    root = Path(__file__).resolve().parents[3]
    image = DockerImage(path=str(root), tag="pgback:scenario")
    image.build()
    stack.callback(image.remove)
    return str(image)


class DockerProvider:
    name = "docker"

    @contextmanager
    def services(self, wanted: tuple[str, ...], workdir: Path) -> Iterator[Services]:
        from testcontainers.core.network import Network

        del workdir
        password = secrets.token_urlsafe(18)  # one superuser password, as in the compose file
        with ExitStack() as stack:
            network = stack.enter_context(Network())
            postgres: dict[str, PostgresService] = {}
            internal: dict[str, tuple[str, int]] = {}
            for name in wanted:
                if name.startswith("postgres"):
                    service = PostgresContainerService(name, network, password)
                    stack.callback(service.stop)
                    postgres[name] = service
                    internal[name] = (name, 5432)
            s3 = None
            if "s3" in wanted:
                s3 = S3ContainerService(network)
                stack.callback(s3.stop)
            sidecar = None
            if "sidecar" in wanted:
                sidecar = SidecarContainerService(network, _sidecar_image(stack))
                stack.callback(sidecar.stop)
            yield Services(
                postgres=postgres,
                s3=s3,
                client_bindir=_client_bindir(postgres),
                sidecar=sidecar,
                internal_hosts=internal,
                internal_s3_endpoint=s3.internal_endpoint if s3 else None,
            )
