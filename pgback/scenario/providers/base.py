"""What a backend provides to scenario steps; local processes and containers look the same."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class PostgresService(Protocol):
    """A running PostgreSQL server reachable from this process."""

    host: str
    port: int
    user: str
    password: str

    @property
    def version(self) -> int:
        """The server's major version (e.g. 17)."""
        ...

    def query(
        self, statement: str, params: Any = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]: ...

    def execute(self, statement: str, params: Any = None, *, dbname: str = "postgres") -> None: ...

    def recreate(self) -> None:
        """Replace the server by a fresh, empty one reachable at the same address."""
        ...

    def log_tail(self, lines: int = 40) -> str: ...


class S3Service(Protocol):
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str

    def create_bucket(self, name: str) -> None: ...

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]: ...

    def cut(self) -> None:
        """The endpoint stops answering (stored objects survive)."""
        ...

    def cut_after(self, nbytes: int) -> None:
        """Stop answering once `nbytes` more have been sent to it."""
        ...

    def heal(self) -> None: ...

    def log_tail(self, lines: int = 40) -> str: ...


class SidecarService(Protocol):
    """The pgback container (docker backend): run the CLI inside it, like `compose exec`."""

    def exec(self, argv: list[str], env: dict[str, str]) -> tuple[int, str]: ...

    def list_files(self, paths: list[str]) -> list[str]: ...

    def log_tail(self, lines: int = 40) -> str: ...


@dataclass
class Services:
    postgres: dict[str, PostgresService]
    s3: S3Service | None
    # in-process engine steps choose their client tools per server, as pgback does
    sidecar: SidecarService | None = None
    # how the sidecar (inside the network) reaches each service, when there is one
    internal_hosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    internal_s3_endpoint: str | None = None
    # starts a PostgreSQL server of a major, on demand (the scratch server of a restore drill);
    # None where the backend cannot
    start_postgres: Callable[[str, int], PostgresService] | None = None

    def pg(self, name: str) -> PostgresService:
        try:
            return self.postgres[name]
        except KeyError:
            raise KeyError(
                f"server {name!r} is not among this scenario's services "
                f"({', '.join(self.postgres) or 'none'}): add it to `services`"
            ) from None

    def logs(self, lines: int = 25) -> dict[str, str]:
        tails = {name: pg.log_tail(lines) for name, pg in self.postgres.items()}
        if self.s3 is not None:
            tails["s3"] = self.s3.log_tail(lines)
        if self.sidecar is not None:
            tails["sidecar"] = self.sidecar.log_tail(lines)
        return tails


class Provider(Protocol):
    name: str

    def services(
        self,
        wanted: tuple[str, ...],
        workdir: Path,
        *,
        versions: dict[str, int | None] | None = None,
        s3: str | None = None,
    ) -> AbstractContextManager[Services]:
        """Start the wanted services (postgres ones of `versions`' majors, None: the default;
        `s3` names the S3 server); stop and remove everything on exit, even after errors."""
        ...
