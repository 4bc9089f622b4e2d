"""The docker backend: the same scenario services as containers, through testcontainers.

Containers share one network and reach each other by name, like the compose file (`postgres1`,
`postgres2`, `s3`, `sidecar`); this process reaches them on published ports. Images come from
configuration so the same tests use public images where Docker exists and locally built ones
here (scripts/container-engine.sh exports them):

- PGBACK_DOCKER_POSTGRES_IMAGE_<N> for PostgreSQL N (default postgres:<N>), and
  PGBACK_DOCKER_POSTGRES_IMAGE for runs that name no major (default postgres:17)
- PGBACK_DOCKER_S3_IMAGE_<NAME> for moto, seaweedfs and minio (defaults in
  pgback/scenario/matrix.py), and PGBACK_DOCKER_S3_IMAGE for moto, the default S3 server
- PGBACK_DOCKER_SIDECAR_IMAGE (default: built from the project's Dockerfile), and
  PGBACK_DOCKER_SIDECAR_IMAGE_<N> for a sidecar whose client tools are of major N, used
  when the default one's cannot read the archives of newer servers
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgback.adapters import pgclients
from pgback.scenario.matrix import (
    DEFAULT_DOCKER_POSTGRES,
    DEFAULT_S3,
    POSTGRES_IMAGE_ENV,
    PUBLIC_S3_IMAGES,
    S3_IMAGE_ENV,
)
from pgback.scenario.providers.base import PostgresService, Services
from pgback.testbed.s3 import list_keys, s3_client

S3_KEY = "AKIAPGBACKSCENARIO"
S3_SECRET = "pgback-scenario-secret"
S3_REGION = "us-east-1"


def postgres_image(major: int | None) -> str:
    if major is None:
        return os.environ.get(POSTGRES_IMAGE_ENV) or DEFAULT_DOCKER_POSTGRES
    return os.environ.get(f"{POSTGRES_IMAGE_ENV}_{major}") or f"postgres:{major}"


def s3_image(kind: str) -> str:
    configured = os.environ.get(f"{S3_IMAGE_ENV}_{kind.upper()}")
    if not configured and kind == DEFAULT_S3:
        configured = os.environ.get(S3_IMAGE_ENV)
    return configured or PUBLIC_S3_IMAGES[kind]


@dataclass(frozen=True)
class S3Container:
    """How to run one kind of S3 server as a container (the public image's interface)."""

    port: int
    command: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/"
    ready_status: int = 200


S3_CONTAINERS = {
    # moto accepts any credentials
    "moto": S3Container(5000),
    # GET / answers 403 until signed; readiness is then a signed listing (below)
    "seaweedfs": S3Container(
        8333,
        "server -s3",
        {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET},
        ready_status=403,
    ),
    "minio": S3Container(
        9000,
        "server /data",
        {"MINIO_ROOT_USER": S3_KEY, "MINIO_ROOT_PASSWORD": S3_SECRET},
        ready_path="/minio/health/live",
    ),
}


class PostgresContainerService:
    """A PostgreSQL container; `recreate()` replaces it by a fresh one under the same alias."""

    user = "postgres"

    def __init__(self, name: str, network: Any, password: str, image: str) -> None:
        self.name = name
        self.password = password
        self.image = image
        self._version: int | None = None
        self._network = network
        self._container: Any = None
        self.host = "127.0.0.1"
        self.port = 0
        self.start()

    def start(self) -> None:
        from testcontainers.community.postgres import PostgresContainer

        container = (
            PostgresContainer(
                image=self.image,
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

    @property
    def version(self) -> int:
        if self._version is None:
            self._version = int(self.query("SHOW server_version_num")[0][0]) // 10000
        return self._version

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
    def __init__(self, network: Any, kind: str) -> None:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        spec = S3_CONTAINERS[kind]
        container = (
            DockerContainer(s3_image(kind))
            .with_exposed_ports(spec.port)
            .with_network(network)
            .with_network_aliases("s3")
            .waiting_for(
                HttpWaitStrategy(spec.port, spec.ready_path).for_status_code(spec.ready_status)
            )
        )
        for key, value in spec.env.items():
            container = container.with_env(key, value)
        if spec.command:
            container = container.with_command(spec.command)
        self._container = container
        _start(container)
        host = container.get_container_host_ip()
        host = "127.0.0.1" if host == "localhost" else host
        self.kind = kind
        self.endpoint_url = f"http://{host}:{container.get_exposed_port(spec.port)}"
        self.internal_endpoint = f"http://s3:{spec.port}"
        self.access_key = S3_KEY
        self.secret_key = S3_SECRET
        self.region = S3_REGION
        try:
            self._wait_serving()
        except BaseException:
            container.stop()
            raise

    def _wait_serving(self, timeout: float = 60.0) -> None:
        """Until a signed listing succeeds: SeaweedFS answers HTTP before its filer and
        volume server are registered."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._client().list_buckets()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    logs = self.log_tail(20)
                    message = f"{self.kind} S3 container not serving: {exc}\n{logs}"
                    raise RuntimeError(message) from None
                time.sleep(0.5)

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


def _sidecar_image(stack: ExitStack, postgres: dict[str, PostgresService]) -> str:
    """PGBACK_DOCKER_SIDECAR_IMAGE_<N> whose client tools (major N) read the archives this
    process makes of these servers (pgback picks pg_dump of their major or newer), when one
    is configured; else PGBACK_DOCKER_SIDECAR_IMAGE; else built from the Dockerfile."""
    needed = max(
        (pgclients.for_server(None, str(pg.version)).install.major for pg in postgres.values()),
        default=0,
    )
    by_major = sorted(
        (int(name.rsplit("_", 1)[1]), image)
        for name, image in os.environ.items()
        if name.startswith("PGBACK_DOCKER_SIDECAR_IMAGE_") and name[-2:].isdigit() and image
    )
    for major, configured_image in by_major:
        if major >= needed:
            return configured_image
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
    def services(
        self,
        wanted: tuple[str, ...],
        workdir: Path,
        *,
        versions: dict[str, int | None] | None = None,
        s3: str | None = None,
    ) -> Iterator[Services]:
        from testcontainers.core.network import Network

        del workdir
        versions = versions or {}
        password = secrets.token_urlsafe(18)  # one superuser password, as in the compose file
        with ExitStack() as stack:
            network = stack.enter_context(Network())
            postgres: dict[str, PostgresService] = {}
            internal: dict[str, tuple[str, int]] = {}
            for name in wanted:
                if name.startswith("postgres"):
                    image = postgres_image(versions.get(name))
                    service = PostgresContainerService(name, network, password, image)
                    stack.callback(service.stop)
                    postgres[name] = service
                    internal[name] = (name, 5432)
            store = None
            if "s3" in wanted:
                store = S3ContainerService(network, s3 or DEFAULT_S3)
                stack.callback(store.stop)
            sidecar = None
            if "sidecar" in wanted:
                sidecar = SidecarContainerService(network, _sidecar_image(stack, postgres))
                stack.callback(sidecar.stop)
            yield Services(
                postgres=postgres,
                s3=store,
                sidecar=sidecar,
                internal_hosts=internal,
                internal_s3_endpoint=store.internal_endpoint if store else None,
            )
