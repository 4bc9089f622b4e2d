"""The seed sidecar's variable names: accepted as aliases, PGBACK_* wins, `config` says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.cli import run as cli_run
from pgback.config import KEYS, load_settings
from pgback.render import render_config

# the seed's environment (its compose file and gomplate template), with values of the right kind
SEED_ENV = {
    "POSTGRES_HOST": "postgres1",
    "POSTGRES_PORT": "5432",
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "password",
    "POSTGRES_DB": "postgres",
    "BACKUP_CRON": "0 3 * * *",
    "DISABLE_CRON": "true",
    "ENCRYPT": "true",
    "AGE_CIPHER_PUBLIC_KEY": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "UPLOAD_PREFIX": "foobar",
    "PURGE_OLDER_THAN": "60s",
    "PURGE_MIN_KEEP": "2",
    "S3_BUCKET": "pg-back",
    "S3_ENDPOINT": "http://minio:9000",
    "S3_REGION": "us-east-1",
    "S3_KEY_ID": "access",
    "S3_SECRET": "secretkey",
    "S3_FORCE_PATH": "true",
    "S3_TLS": "false",
    "JOBS": "2",
    "INCLUDE_DBS": "app,other",
    "EXCLUDE_DBS": "scratch",
}


def test_seed_names_each_set_their_key_and_are_named_as_source() -> None:
    settings = load_settings(env=SEED_ENV)

    by_alias = {alias: spec.name for spec in KEYS.values() for alias in spec.aliases}
    for name in SEED_ENV:
        assert settings.sources[by_alias[name]] == f"env {name}"
    assert settings.backup_cron == "0 3 * * *"
    assert settings.disable_cron is True
    assert settings.upload_prefix == "foobar"
    assert settings.purge_older_than is not None
    assert settings.purge_older_than.total_seconds() == 60
    assert settings.include_dbs == ("app", "other")
    assert settings.s3_tls is False


def test_pgback_name_wins_over_seed_alias() -> None:
    settings = load_settings(
        env={"BACKUP_CRON": "0 3 * * *", "PGBACK_BACKUP_CRON": "*/5 * * * *", "S3_TLS": "false"}
    )

    assert settings.backup_cron == "*/5 * * * *"
    assert settings.sources["backup_cron"] == "env PGBACK_BACKUP_CRON"
    assert settings.sources["s3_tls"] == "env S3_TLS"


def test_pgback_name_wins_over_seed_alias_file_for_secrets(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")

    settings = load_settings(
        env={"POSTGRES_PASSWORD_FILE": str(secret_file), "PGBACK_PASSWORD": "from-pgback"}
    )
    alias_only = load_settings(env={"POSTGRES_PASSWORD_FILE": str(secret_file)})

    assert settings.password is not None
    assert settings.password.reveal() == "from-pgback"
    assert alias_only.password is not None
    assert alias_only.password.reveal() == "from-file"
    assert alias_only.sources["password"] == "env POSTGRES_PASSWORD_FILE"


def test_render_config_shows_alias_source_and_redacts_secret() -> None:
    text = render_config(load_settings(env=SEED_ENV))

    rows = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert rows["backup_cron"].rstrip().endswith("env BACKUP_CRON")
    assert rows["password"].split()[1] == "***"
    assert "secretkey" not in text
    assert "password" not in rows["password"].split()[1:-2]


def test_pgback_config_command_prints_alias_and_pgback_sources(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKUP_CRON", "0 3 * * *")
    monkeypatch.setenv("DISABLE_CRON", "true")
    monkeypatch.setenv("PGBACK_DISABLE_CRON", "false")

    assert cli_run(["config"]) == 0

    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["backup_cron"][-2:] == ["env", "BACKUP_CRON"]
    assert rows["disable_cron"][1:] == ["False", "env", "PGBACK_DISABLE_CRON"]
