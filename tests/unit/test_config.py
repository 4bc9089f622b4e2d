"""Configuration: precedence, secrets from files, the seed sidecar's names, error reporting."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import pytest
from pyrage import x25519

from pgback import cli
from pgback.config import KEYS, SECRET_KEYS, Settings, load_settings
from pgback.errors import ConfigError
from pgback.secret import Secret

PASS = "correct horse battery staple "  # the trailing space belongs to the passphrase


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pgback.toml"
    path.write_text(text)
    return path


def problems_of(**kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_load_settings_nothing_set_gives_documented_defaults() -> None:
    settings = load_settings(env={})

    assert settings == Settings()
    assert settings.jobs == 1
    assert settings.compress == "zstd"
    assert settings.purge_min_keep == 0
    assert settings.purge_older_than is None
    assert not settings.encrypt
    assert settings.s3_tls and not settings.s3_force_path
    assert settings.sources == {}


def test_load_settings_every_layer_set_flags_beat_env_beat_file_beat_defaults(
    tmp_path: Path,
) -> None:
    config = write_toml(
        tmp_path,
        'jobs = 2\ncompress_level = 5\nupload_prefix = "from-file"\ns3_bucket = "file-bucket"\n',
    )
    env = {"PGBACK_JOBS": "3", "PGBACK_UPLOAD_PREFIX": "from-env"}

    settings = load_settings(env=env, config_file=config, overrides={"jobs": "4"})

    assert settings.jobs == 4
    assert settings.upload_prefix == "from-env"
    assert settings.compress_level == 5
    assert settings.s3_bucket == "file-bucket"
    assert settings.compress == "zstd"
    assert settings.sources["jobs"] == "flag"
    assert settings.sources["upload_prefix"] == "env PGBACK_UPLOAD_PREFIX"
    assert settings.sources["compress_level"] == f"file {config}"
    assert "compress" not in settings.sources


def test_load_settings_config_named_by_env_is_read(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "keep_last = 3\n")

    settings = load_settings(env={"PGBACK_CONFIG": str(config)})

    assert settings.keep_last == 3


def test_load_settings_toml_lists_and_booleans_are_native(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path, 'include_dbs = ["app", "my db"]\nwith_templates = true\nencrypt = false\n'
    )

    settings = load_settings(env={}, config_file=config)

    assert settings.include_dbs == ("app", "my db")
    assert settings.with_templates is True


@pytest.mark.parametrize(
    ("raw", "expected"), [("a,b", ("a", "b")), (" a , b ,, c ", ("a", "b", "c")), ("", ())]
)
def test_load_settings_comma_list_in_env_is_split_and_trimmed(
    raw: str, expected: tuple[str, ...]
) -> None:
    assert load_settings(env={"PGBACK_EXCLUDE_DBS": raw}).exclude_dbs == expected


@pytest.mark.parametrize(("raw", "expected"), [("yes", True), ("1", True), ("off", False)])
def test_load_settings_boolean_words_are_understood(raw: str, expected: bool) -> None:
    assert load_settings(env={"PGBACK_S3_FORCE_PATH": raw}).s3_force_path is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("30", timedelta(days=30)), ("12h", timedelta(hours=12)), ("60s", timedelta(seconds=60))],
)
def test_load_settings_purge_older_than_takes_durations_and_bare_days(
    raw: str, expected: timedelta
) -> None:
    assert load_settings(env={"PGBACK_PURGE_OLDER_THAN": raw}).purge_older_than == expected


def test_load_settings_purge_min_keep_all_keeps_everything() -> None:
    settings = load_settings(env={"PGBACK_PURGE_MIN_KEEP": "ALL"})

    assert settings.purge_min_keep is None
    assert settings.redacted()["purge_min_keep"] == "all"


# --- secrets -----------------------------------------------------------------------------------


def test_load_settings_secret_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    secret_file = tmp_path / "pass"
    secret_file.write_text(PASS + "\n")

    settings = load_settings(env={"PGBACK_CIPHER_PASS_FILE": str(secret_file)})

    assert settings.cipher_pass == Secret(PASS)
    assert settings.sources["cipher_pass"] == "env PGBACK_CIPHER_PASS_FILE"


def test_load_settings_every_secret_key_accepts_a_file(tmp_path: Path) -> None:
    identity = str(x25519.Identity.generate())
    values = {name: f"value-of-{name}" for name in SECRET_KEYS}
    values["cipher_private_key"] = identity
    values["ping_url"] = "https://hc-ping.com/value-of-ping_url"  # must be an http(s) URL
    env = {}
    for name, value in values.items():
        path = tmp_path / name
        path.write_text(value + "\n")
        env[KEYS[name].env + "_FILE"] = str(path)

    settings = load_settings(env=env)

    for name, value in values.items():
        assert getattr(settings, name) == Secret(value), name


def test_load_settings_unreadable_secret_file_names_variable_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    problems = problems_of(env={"PGBACK_S3_SECRET_FILE": str(missing)})

    assert len(problems) == 1
    assert "PGBACK_S3_SECRET_FILE" in problems[0] and str(missing) in problems[0]


def test_settings_with_secrets_repr_and_str_never_show_them() -> None:
    identity = str(x25519.Identity.generate())
    env = {
        "PGBACK_PASSWORD": "pg-password-123",
        "PGBACK_S3_SECRET": "s3-secret-456",
        "PGBACK_S3_KEY_ID": "key-id-789",
        "PGBACK_CIPHER_PASS": PASS,
        "PGBACK_CIPHER_PRIVATE_KEY": identity,
    }

    settings = load_settings(env=env)

    for text in (repr(settings), str(settings), str(settings.redacted())):
        for secret in env.values():
            assert secret not in text
    assert settings.redacted()["s3_secret"] == "***"
    assert settings.redacted()["cipher_pass"] == "***"
    assert settings.redacted()["cipher_private_key"] == "***"


def test_secret_repr_and_str_are_redacted_and_reveal_gives_the_value() -> None:
    secret = Secret("hunter2")

    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"


def test_load_settings_invalid_private_key_error_does_not_echo_it() -> None:
    problems = problems_of(env={"PGBACK_CIPHER_PRIVATE_KEY": "hunter2-typed-in-the-wrong-place"})

    assert any("cipher_private_key" in p for p in problems)
    assert "hunter2" not in " ".join(problems)


def test_load_settings_private_key_given_as_public_key_is_not_echoed() -> None:
    identity = str(x25519.Identity.generate())

    problems = problems_of(env={"PGBACK_CIPHER_PUBLIC_KEY": identity})

    text = str(ConfigError(problems))
    assert "cipher_public_key" in text
    body = identity.removeprefix("AGE-SECRET-KEY-1")
    assert all(body[i : i + 8] not in text for i in range(len(body) - 8))


# --- the seed sidecar's environment names ------------------------------------------------------


def test_load_settings_seed_aliases_fill_in_when_pgback_names_are_absent(tmp_path: Path) -> None:
    password_file = tmp_path / "pw"
    password_file.write_text("from-file\n")
    env = {
        "POSTGRES_HOST": "db",
        "POSTGRES_PORT": "5433",
        "POSTGRES_USER": "admin",
        "POSTGRES_PASSWORD_FILE": str(password_file),
        "S3_BUCKET": "seed-bucket",
        "PURGE_OLDER_THAN": "7",
    }

    settings = load_settings(env=env)

    assert (settings.host, settings.port, settings.user) == ("db", 5433, "admin")
    assert settings.password == Secret("from-file")
    assert settings.s3_bucket == "seed-bucket"
    assert settings.purge_older_than == timedelta(days=7)
    assert settings.sources["host"] == "env POSTGRES_HOST"


def test_load_settings_pgback_names_beat_seed_aliases() -> None:
    env = {
        "POSTGRES_HOST": "seed-host",
        "PGBACK_HOST": "pgback-host",
        "POSTGRES_PASSWORD": "seed-pw",
        "PGBACK_PASSWORD": "pgback-pw",
        "S3_BUCKET": "seed-bucket",
        "PGBACK_S3_BUCKET": "pgback-bucket",
    }

    settings = load_settings(env=env)

    assert settings.host == "pgback-host"
    assert settings.password == Secret("pgback-pw")
    assert settings.s3_bucket == "pgback-bucket"


def test_load_settings_seed_alias_loses_to_the_config_file_no_more_than_env_does(
    tmp_path: Path,
) -> None:
    config = write_toml(tmp_path, 's3_bucket = "file-bucket"\n')

    settings = load_settings(env={"S3_BUCKET": "seed-bucket"}, config_file=config)

    assert settings.s3_bucket == "seed-bucket"  # environment (any name) beats the file


# --- every problem at once ---------------------------------------------------------------------


def test_load_settings_many_problems_are_all_reported_at_once(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'jobs = 0\nno_such_key = 1\ncompress = "lz4"\n')
    env = {
        "PGBACK_PORT": "99999",
        "PGBACK_PURGE_OLDER_THAN": "soon",
        "PGBACK_S3_FORCE_PATH": "maybe",
        "PGBACK_S3_PART_SIZE_MIB": "1",
        "PGBACK_LOG_LEVEL": "loud",
    }

    problems = problems_of(env=env, config_file=config)

    assert len(problems) == 8
    for name in (
        "jobs",
        "no_such_key",
        "compress",
        "port",
        "purge_older_than",
        "s3_force_path",
        "s3_part_size_mib",
        "log_level",
    ):
        assert sum(name in p for p in problems) >= 1, name


def test_load_settings_value_and_cross_key_problems_are_reported_together() -> None:
    env = {
        "PGBACK_JOBS": "many",
        "PGBACK_ENCRYPT": "true",  # without a key or passphrase
        "PGBACK_INCLUDE_DBS": "app",
        "PGBACK_EXCLUDE_DBS": "app",
    }

    problems = problems_of(env=env)

    assert len(problems) == 3
    assert any("jobs" in p for p in problems)
    assert any("encrypt is on" in p for p in problems)
    assert any("both included and excluded: app" in p for p in problems)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PGBACK_ENCRYPT": "1"}, "neither cipher_public_key"),
        (
            {
                "PGBACK_ENCRYPT": "1",
                "PGBACK_CIPHER_PASS": "x",
                "PGBACK_CIPHER_PUBLIC_KEY": str(x25519.Identity.generate().to_public()),
            },
            "not both",
        ),
        ({"PGBACK_S3_ENDPOINT": "ftp://host"}, "s3_endpoint"),
        ({"PGBACK_WEBHOOK_URL": "file:///etc/passwd"}, "webhook_url"),
        ({"PGBACK_BACKUP_CRON": "every night"}, "backup_cron"),
        ({"PGBACK_BACKUP_CRON": "0 3 * * *", "PGBACK_CRON_TIMEZONE": "Mars/Base"}, "time zone"),
        ({"PGBACK_HEALTH_LISTEN": "localhost"}, "health_listen"),
        ({"PGBACK_PURGE_OLDER_THAN": "0"}, "must be positive"),
        ({"PGBACK_COMPRESS_LEVEL": "23"}, "1 to 22"),
        ({"PGBACK_KEEP_LAST": "0"}, "at least 1"),
    ],
)
def test_load_settings_invalid_combination_is_explained(env: dict[str, str], fragment: str) -> None:
    problems = problems_of(env=env)

    assert any(fragment in p for p in problems), problems


def test_load_settings_missing_config_file_is_a_problem(tmp_path: Path) -> None:
    problems = problems_of(env={}, config_file=tmp_path / "absent.toml")

    assert problems == [f"config file {tmp_path / 'absent.toml'} does not exist"]


def test_load_settings_broken_toml_is_a_problem(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "jobs = = 2\n")

    problems = problems_of(env={}, config_file=config)

    assert len(problems) == 1 and str(config) in problems[0]


# --- through the command line (flags are the top layer) ----------------------------------------


def test_cli_config_flag_beats_env_and_file_and_secrets_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("PGBACK_"):
            monkeypatch.delenv(name)
    config = write_toml(tmp_path, 'jobs = 2\ns3_secret = "file-secret-value"\n')
    monkeypatch.setenv("PGBACK_JOBS", "3")
    monkeypatch.setenv("PGBACK_CIPHER_PASS", "env-pass-value")

    code = cli.run(["config", "--config", str(config), "--jobs", "4"])

    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["jobs"] == ["4", "flag"]
    assert rows["s3_secret"] == ["***", "file", str(config)]
    assert rows["cipher_pass"] == ["***", "env", "PGBACK_CIPHER_PASS"]
    assert "file-secret-value" not in out and "env-pass-value" not in out


def test_cli_secret_settings_have_no_flags() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    backup = commands.choices["backup"]
    flags = {opt for action in backup._actions for opt in action.option_strings}

    for name in SECRET_KEYS:
        assert KEYS[name].flag not in flags  # a flag would show the secret in `ps`


def test_cli_invalid_configuration_exits_2_listing_every_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGBACK_JOBS", "0")
    monkeypatch.setenv("PGBACK_COMPRESS", "lz4")

    code = cli.run(["config", "--port", "70000"])

    err = capsys.readouterr().err
    assert code == 2
    assert "3 configuration problems" in err
    assert all(word in err for word in ("jobs", "compress", "port"))


def test_load_settings_misspelled_pgback_variable_is_named_with_a_guess() -> None:
    settings = load_settings(env={"PGBACK_S3_BUKET": "pg-back", "PGBACK_TARGET": "host=x"})

    assert settings.warnings == (
        "ignoring unknown environment variable PGBACK_S3_BUKET (did you mean PGBACK_S3_BUCKET?)",
    )
    assert settings.s3_bucket is None


def test_load_settings_recipient_without_encrypt_warns_backups_are_not_encrypted() -> None:
    recipient = str(x25519.Identity.generate().to_public())

    quiet = load_settings(env={"PGBACK_CIPHER_PUBLIC_KEY": recipient, "PGBACK_ENCRYPT": "true"})
    loud = load_settings(env={"PGBACK_CIPHER_PUBLIC_KEY": recipient})

    assert quiet.warnings == ()
    assert any("NOT encrypted" in w for w in loud.warnings)


def test_load_settings_s3_repository_stands_for_bucket_and_prefix() -> None:
    settings = load_settings(env={"PGBACK_REPOSITORY": "s3://pg-back/foo/bar/"})

    assert (settings.s3_bucket, settings.upload_prefix) == ("pg-back", "foo/bar")
    assert settings.sources["s3_bucket"] == "repository (env PGBACK_REPOSITORY)"


def test_load_settings_repository_and_another_bucket_is_a_problem() -> None:
    problems = problems_of(
        env={"PGBACK_REPOSITORY": "s3://pg-back/foo", "PGBACK_S3_BUCKET": "other"}
    )

    assert problems == [
        "repository (env PGBACK_REPOSITORY) says s3_bucket 'pg-back' but s3_bucket "
        "(env PGBACK_S3_BUCKET) is 'other': set one of them"
    ]


def test_load_settings_calendar_retention_counts_days_in_the_cron_timezone_by_default() -> None:
    settings = load_settings(env={"PGBACK_KEEP_DAILY": "7", "PGBACK_CRON_TIMEZONE": "Europe/Paris"})

    assert settings.keep_daily == 7
    assert settings.purge_policy_set
    assert settings.retention_zone == "Europe/Paris"
    assert (
        load_settings(
            env={"PGBACK_CRON_TIMEZONE": "Europe/Paris", "PGBACK_RETENTION_TIMEZONE": "Asia/Tokyo"}
        ).retention_zone
        == "Asia/Tokyo"
    )


def test_load_settings_calendar_retention_in_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env={"PGBACK_KEEP_WEEKLY": "4", "PGBACK_RETENTION_TIMEZONE": "Mars/Olympus"})

    assert raised.value.problems == [
        "retention_timezone 'Mars/Olympus': not a time zone (like UTC or Europe/Paris)"
    ]


def test_load_settings_calendar_count_of_zero_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env={"PGBACK_KEEP_MONTHLY": "0"})

    assert "keep_monthly" in raised.value.problems[0]


def test_load_settings_several_runners_keys_have_safe_defaults_and_parse_from_env() -> None:
    defaults = load_settings(env={})
    assert defaults.s3_create_bucket is False
    assert defaults.mark_stale_after == timedelta(minutes=15)

    settings = load_settings(
        env={"PGBACK_S3_CREATE_BUCKET": "true", "PGBACK_MARK_STALE_AFTER": "90s"}
    )

    assert settings.s3_create_bucket is True
    assert settings.mark_stale_after == timedelta(seconds=90)


def test_load_settings_mark_stale_after_too_short_to_judge_is_refused() -> None:
    problems = problems_of(env={"PGBACK_MARK_STALE_AFTER": "2s"})

    assert problems == [
        "mark_stale_after (env PGBACK_MARK_STALE_AFTER) = '2s': must be at least 3s, got '2s'"
    ]
