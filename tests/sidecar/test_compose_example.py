"""compose.yaml, the README's sidecar example: its pgback services configure pgback as the
walkthrough says, with no unknown or invalid variable. (No compose engine runs here: this checks
what compose would hand to each container.)"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgback.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def container_env(service: dict[str, Any], shell: dict[str, str]) -> dict[str, str]:
    """The environment compose gives the container: ${VAR:-default} from the shell."""

    def substitute(value: object) -> str:
        return _VARIABLE.sub(lambda m: shell.get(m[1], m[2] or ""), str(value))

    return {name: substitute(value) for name, value in service["environment"].items()}


def settings_of(compose: dict[str, Any], name: str, shell: dict[str, str]) -> Settings:
    settings = load_settings(env=container_env(compose["services"][name], shell))
    assert settings.warnings == (), settings.warnings  # no misspelled or unknown variable
    return settings


def test_pgback1_backs_up_postgres1_on_cron_with_the_seed_settings(compose: dict[str, Any]) -> None:
    settings = settings_of(compose, "pgback1", {"AGE_CIPHER_PUBLIC_KEY": RECIPIENT})

    assert (settings.host, settings.port, settings.user) == ("postgres1", 5432, "postgres")
    assert settings.backup_cron == "0 3 * * *" and not settings.disable_cron
    assert settings.encrypt and settings.cipher_public_key == (RECIPIENT,)
    assert settings.purge_older_than == timedelta(seconds=60)
    assert (settings.upload_prefix, settings.s3_bucket) == ("foobar", "pg-back")
    assert settings.s3_endpoint == "http://minio:9000"
    assert settings.health_listen == "0.0.0.0:8080"


def test_pgback2_is_a_restore_only_sidecar_for_postgres2(compose: dict[str, Any]) -> None:
    service = compose["services"]["pgback2"]
    settings = settings_of(compose, "pgback2", {})

    assert settings.disable_cron
    assert settings.host == "postgres2"
    assert "host=postgres2" in service["environment"]["PGBACK_TARGET"]
    assert settings.upload_prefix == "foobar"  # reads what pgback1 writes


def test_services_reference_each_other_and_the_image_can_dump_the_servers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    s3_host = re.match(r"https?://([^:/]+)", services["pgback1"]["environment"]["S3_ENDPOINT"])
    assert s3_host is not None and s3_host[1] in services
    for name in ("pgback1", "pgback2"):
        service = services[name]
        assert set(service["depends_on"]) <= set(services)
        assert service["environment"]["POSTGRES_HOST"] in services
        # pg_dump refuses servers newer than itself: the image's client major must be >= theirs
        client_major = int(service["build"]["args"]["PG_MAJOR"])
        server = services[service["environment"]["POSTGRES_HOST"]]
        assert int(server["image"].split(":")[1].split(".")[0]) <= client_major
    # MinIO's Docker Hub images are gone: the S3 image must not come from there
    assert not services["minio"]["image"].startswith(("minio/", "docker.io/minio/"))
    # docker stop must wait longer than pgback's own grace period for a running backup
    grace = int(services["pgback1"]["stop_grace_period"].rstrip("s"))
    assert grace > Settings().stop_grace_period.total_seconds()
