"""The compatibility matrix: which PostgreSQL majors and S3 servers a backend offers, and what
each scenario's services run on for one combination.

A combination is (PostgreSQL major, S3 server); None in either means the backend's default
(today's single configuration). A scenario may pin a service's major (`version: 15`, `oldest`,
`newest`), give one for runs that name none (`default_version`), and restrict the S3 servers
it runs on (`s3: {servers: [...]}`): a combination it cannot run is skipped with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pgback.scenario.model import Scenario

DEFAULT_S3 = "moto"
S3_NAMES = ("moto", "seaweedfs", "rclone", "minio")
# docker backend: images where no local ones are configured (a registry is reachable)
PUBLIC_POSTGRES_MAJORS = (13, 14, 15, 16, 17, 18)
DEFAULT_DOCKER_POSTGRES = "postgres:17"
PUBLIC_S3_IMAGES = {
    "moto": "motoserver/moto:5.2.5",
    "seaweedfs": "chrislusf/seaweedfs:latest",
    # MinIO stopped publishing community images; this build by others is the one
    # testcontainers-python defaults to (docs/compatibility.md says why)
    "minio": "ghcr.io/coollabsio/minio:latest",
}
POSTGRES_IMAGE_ENV = "PGBACK_DOCKER_POSTGRES_IMAGE"
S3_IMAGE_ENV = "PGBACK_DOCKER_S3_IMAGE"


class MatrixError(ValueError):
    """A combination named explicitly that cannot run here."""


@dataclass(frozen=True)
class Combo:
    postgres: int | None = None
    s3: str | None = None

    @property
    def id(self) -> str:
        return f"pg{self.postgres or 'default'}-{self.s3 or DEFAULT_S3}"

    @property
    def is_default(self) -> bool:
        return self.postgres is None and self.s3 is None


@dataclass(frozen=True)
class Resolved:
    """What one scenario runs on in one combination."""

    versions: dict[str, int | None]  # postgres service -> major (None: the backend default)
    s3: str


# --- what a backend offers ------------------------------------------------------------------


def _env_suffixed(prefix: str) -> dict[str, str]:
    return {
        name.removeprefix(prefix + "_"): value
        for name, value in os.environ.items()
        if name.startswith(prefix + "_") and value
    }


def available_majors(backend: str) -> dict[int, str]:
    """major -> where its servers come from."""
    if backend == "docker":
        local = {int(k): v for k, v in _env_suffixed(POSTGRES_IMAGE_ENV).items() if k.isdigit()}
        return dict(sorted(local.items())) or {m: f"postgres:{m}" for m in PUBLIC_POSTGRES_MAJORS}
    from pgback.testbed.majors import server_installs

    return {m: f"{i.source} ({i.bindir})" for m, i in server_installs().items()}


def available_s3(backend: str) -> dict[str, str]:
    """S3 server name -> where it comes from."""
    if backend == "docker":
        local = {k.lower(): v for k, v in _env_suffixed(S3_IMAGE_ENV).items()}
        local = {k: v for k, v in local.items() if k in S3_NAMES}
        return local or dict(PUBLIC_S3_IMAGES)
    from pgback.testbed.s3kinds import S3_KINDS

    return {name: "local process" for name, kind in S3_KINDS.items() if kind.available()}


def how_to_get_major(backend: str, major: int) -> str:
    if backend == "docker":
        return (
            f"set {POSTGRES_IMAGE_ENV}_{major} to a PostgreSQL {major} image, or build one "
            f"(PGBACK_DOCKER_PG_MAJORS='{major}' scripts/container-engine.sh)"
        )
    from pgback.testbed.majors import how_to_get

    return how_to_get(major)


def how_to_get_s3(backend: str, name: str) -> str:
    if backend == "docker":
        return f"set {S3_IMAGE_ENV}_{name.upper()} to its image"
    from pgback.testbed.s3kinds import S3_KINDS

    kind = S3_KINDS.get(name)
    return kind.how_to_get if kind else f"unknown S3 server (known: {', '.join(S3_KINDS)})"


def default_major(backend: str) -> int | None:
    """The major a run that names none gets, when the backend can tell."""
    if backend == "docker":
        return None  # whatever PGBACK_DOCKER_POSTGRES_IMAGE (or postgres:17) is
    from pgback.testbed.majors import default_major as local_default

    return local_default()


# --- choosing combinations ------------------------------------------------------------------


def parse_majors(value: str | None, backend: str) -> list[int | None]:
    if not value:
        return [None]
    available = available_majors(backend)
    if value.strip() == "all":
        return list(available)
    majors: list[int | None] = []
    for word in value.split(","):
        word = word.strip().removeprefix("pg")
        if not word.isdigit():
            raise MatrixError(f"--postgres {value}: {word!r} is not a major version (e.g. 16)")
        major = int(word)
        if major not in available:
            have = ", ".join(map(str, available)) or "none"
            raise MatrixError(
                f"PostgreSQL {major} is not available on the {backend} backend here "
                f"(available: {have}): {how_to_get_major(backend, major)}"
            )
        majors.append(major)
    return majors


def parse_s3(value: str | None, backend: str) -> list[str | None]:
    if not value:
        return [None]
    available = available_s3(backend)
    if value.strip() == "all":
        return list(available)
    names: list[str | None] = []
    for word in value.split(","):
        name = word.strip().lower()
        if name not in available:
            have = ", ".join(available) or "none"
            raise MatrixError(
                f"S3 server {name!r} is not available on the {backend} backend here "
                f"(available: {have}): {how_to_get_s3(backend, name)}"
            )
        names.append(name)
    return names


def combinations(backend: str, postgres: str | None, s3: str | None) -> list[Combo]:
    """Every combination the options ask for; MatrixError if one named cannot run here."""
    majors = parse_majors(postgres, backend)
    servers = parse_s3(s3, backend)
    if postgres and not s3:
        servers = [DEFAULT_S3]
    if s3 and not postgres:
        majors = [default_major(backend)]
    return [Combo(m, name) for m in majors for name in servers]


def resolve(scenario: Scenario, combo: Combo, backend: str) -> Resolved | str:
    """The services' majors and the S3 server for this combination, or why it is skipped."""
    available = available_majors(backend)
    s3 = combo.s3 or DEFAULT_S3
    if scenario.s3_servers is not None and s3 not in scenario.s3_servers:
        why = f": {scenario.s3_reason}" if scenario.s3_reason else ""
        return f"needs features of {', '.join(scenario.s3_servers)}, not {s3}{why}"
    versions: dict[str, int | None] = {}
    for service in scenario.services:
        if not service.startswith("postgres"):
            continue
        pin = scenario.versions.get(service)
        if pin is None and combo.postgres is not None:
            pin = combo.postgres
        if pin is None:
            pin = scenario.default_versions.get(service)
        if pin is None:
            versions[service] = combo.postgres
            continue
        if not available:
            return f"no PostgreSQL server available on the {backend} backend"
        major = {"oldest": min(available), "newest": max(available)}.get(str(pin), pin)
        assert isinstance(major, int)
        if major not in available:
            return f"{service} needs PostgreSQL {major}: {how_to_get_major(backend, major)}"
        versions[service] = major
    return Resolved(versions, s3)
