"""Where a scenario's services run: local processes or containers."""

from __future__ import annotations

from pgback.scenario.providers.base import Provider


def get_provider(backend: str) -> Provider:
    if backend == "local":
        from pgback.scenario.providers.local import LocalProvider

        return LocalProvider()
    if backend == "docker":
        from pgback.scenario.providers.docker import DockerProvider

        return DockerProvider()
    raise ValueError(f"unknown backend {backend!r}: use local or docker")
