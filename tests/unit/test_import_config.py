"""`pgback import-config`: pg_back.conf as a pgback settings file, secrets never printed."""

from __future__ import annotations

from pathlib import Path

from support import run_cli

from pgback.config import load_settings
from pgback.legacy.config import convert

PG_BACK_CONF = """\
# pg_back configuration file
bin_directory = /usr/lib/postgresql/17/bin
backup_directory = /var/backups/postgresql
timestamp_format = rfc3339
host = db
port = 5433
user = backup
dbname =
dump_role_passwords = false
include_dbs =
exclude_dbs = template1, scratch
with_templates = false
format = custom
compress_level = -1
checksum_algorithm = sha256
encrypt = true
cipher_pass = s3cr3t-passphrase
cipher_private_key = AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ
purge_older_than = 30
purge_min_keep = 3
jobs = 2
pg_dump_options = --no-comments
pause_timeout = 3600
pre_backup_hook = /usr/local/bin/notify "backup starting"
upload = s3
upload_prefix = foobar
purge_remote = true
s3_region = eu-west-1
s3_bucket = pg-back
s3_key_id = AKIAEXAMPLEKEYID
s3_secret = very-secret-s3-key
s3_endpoint = http://minio:9000
s3_force_path = true
sftp_host = backup.example

[shop]
schemas = public, sales
exclude_tables = audit_log
with_blobs = false
parallel_backup_jobs = 4

[legacy]
pg_dump_options = -Fp
"""
SECRETS = ("s3cr3t-passphrase", "AGE-SECRET-KEY-1Q", "AKIAEXAMPLEKEYID", "very-secret-s3-key")


def test_import_config_maps_what_it_can_and_says_why_not_for_the_rest(tmp_path: Path) -> None:
    converted = convert(PG_BACK_CONF)

    assert converted.settings["pg_bin_dir"] == "/usr/lib/postgresql/17/bin"
    assert converted.settings["no_role_passwords"] is True
    assert converted.settings["exclude_dbs"] == ["template1", "scratch"]
    assert converted.settings["purge_older_than"] == "30d"
    assert converted.settings["purge_pg_back_files"] is True
    assert converted.settings["pre_backup_hook"] == ["/usr/local/bin/notify", "backup starting"]
    assert converted.databases["shop"] == {
        "exclude": ["audit_log"],
        "pg_dump_options": ["--no-comments", "-n", "public", "-n", "sales", "-B"],
    }
    notes = "\n".join(converted.notes)
    for key in ("backup_directory", "timestamp_format", "checksum_algorithm", "pause_timeout"):
        assert f"{key}: " in notes, key
    assert "sftp_host: pgback stores on S3 or in a directory" in notes
    assert "[shop] parallel_backup_jobs:" in notes
    assert "[legacy] pg_dump_options: '-Fp' (pg_dump's --format) is set by pgback" in notes


def test_import_config_cli_output_is_a_settings_file_without_any_secret(tmp_path: Path) -> None:
    conf = tmp_path / "pg_back.conf"
    conf.write_text(PG_BACK_CONF)

    done = run_cli({}, "import-config", str(conf))

    assert done.returncode == 0, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr
    assert "cipher_pass: set PGBACK_CIPHER_PASS (or PGBACK_CIPHER_PASS_FILE)" in done.stdout
    converted = tmp_path / "pgback.toml"
    converted.write_text(done.stdout)
    settings = load_settings(
        env={"PGBACK_CIPHER_PASS": "given elsewhere"}, config_file=converted
    )  # loads: valid TOML, known keys, values that parse
    assert settings.upload_prefix == "foobar" and settings.s3_bucket == "pg-back"
    assert settings.database("shop").exclude == ("audit_log",)


def test_import_config_of_something_else_fails_in_one_line(tmp_path: Path) -> None:
    missing = run_cli({}, "import-config", str(tmp_path / "nope.conf"))
    (tmp_path / "bad.conf").write_text("[unclosed\n")
    bad = run_cli({}, "import-config", str(tmp_path / "bad.conf"))

    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert bad.returncode == 2 and "not a pg_back configuration file" in bad.stderr
