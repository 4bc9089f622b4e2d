"""pgback's environment for a test bed: one builder for tests, fault tests and scenarios.

`pgback_env(postgres=..., s3=..., **settings)`: PGBACK_* variables pointing at a server and an
S3 endpoint (path-style, few retries, no progress lines), then any setting by name, its value
written as a user would write it (booleans true/false, lists comma-separated).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class _Postgres(Protocol):
    host: str
    port: int
    user: str
    password: str


class _S3(Protocol):
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return ",".join(str(v) for v in value)
    return str(value)


def pgback_env(
    *, postgres: _Postgres | None = None, s3: _S3 | None = None, **settings: Any
) -> dict[str, str]:
    """PGBACK_* for the servers, then `settings` (a None value leaves the key unset)."""
    base: dict[str, Any] = {"progress": "never"}
    if postgres is not None:
        base.update(
            host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password
        )
    if s3 is not None:
        base.update(
            s3_endpoint=s3.endpoint_url,
            s3_key_id=s3.access_key,
            s3_secret=s3.secret_key,
            s3_region=s3.region,
            s3_force_path=True,
            s3_max_attempts=2,
        )
    base.update(settings)
    return {f"PGBACK_{name.upper()}": env_value(v) for name, v in base.items() if v is not None}
