"""The cases issue 17 names, and errors that name the server or endpoint actually used, as
real `pgback` processes (inprocess.run_subprocess) against the bed's real servers.

- a connection failure names the host and port libpq used, from PGBACK_* or from libpq's
  own PGHOST/PGPORT/PGUSER (service files, PGSERVICE, are not resolved: out of scope);
- `download --dest` naming a file is one line, exit 2, the file untouched;
- `pgback config` refuses what `serve`, `purge`, `doctor`, `list` or `verify` would;
- an S3 error names the endpoint boto3 used, from s3_endpoint or AWS_ENDPOINT_URL(_S3), and
  a missing set names the bucket and the prefix.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from pgback.testbed.ports import free_port

from .bed import PREFIX, Bed
from .inprocess import Outcome, run_subprocess
from .sweep import assert_clean

pytestmark = pytest.mark.integration


def one_line(outcome: Outcome, code: int, *phrases: str) -> str:
    assert outcome.code == code, outcome.describe()
    assert len(outcome.error_lines) == 1 and outcome.other_stderr == [], outcome.describe()
    message = outcome.problems[0]
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    return message


def case_dir(bed: Bed) -> Path:
    path = bed.workdir / "named" / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


@pytest.mark.parametrize(
    ("ours", "libpq", "shown"),
    [
        # nothing of pgback's: libpq's variables say where, and the error says so
        (
            {},
            {"PGHOST": "127.0.0.1", "PGPORT": "{port}"},
            "127.0.0.1:{port} (host from PGHOST, port from PGPORT)",
        ),
        ({"PGBACK_HOST": "127.0.0.1"}, {"PGPORT": "{port}"}, "127.0.0.1:{port} (port from PGPORT)"),
        (
            {"PGBACK_PORT": "{port}"},
            {"PGHOST": "localhost", "PGUSER": "someone"},
            "localhost:{port} as someone (host from PGHOST, user from PGUSER)",
        ),
        (
            {"PGBACK_HOST": "127.0.0.1", "PGBACK_PORT": "{port}"},
            {"PGHOST": "elsewhere.invalid", "PGPORT": "1"},
            "127.0.0.1:{port}:",
        ),
        (
            {},
            {"PGHOST": "{socket_dir}", "PGPORT": "{port}"},
            "the local socket {socket_dir}/.s.PGSQL.{port} (host from PGHOST, port from PGPORT)",
        ),
    ],
)
def test_named_connection_failure_names_host_and_port_used_from_settings_or_libpq_env(
    bed: Bed, ours: dict[str, str], libpq: dict[str, str], shown: str
) -> None:
    where = case_dir(bed)
    values = {"port": str(free_port()), "socket_dir": str(where)}  # nothing listens there
    env = without(bed.env(), "PGBACK_HOST", "PGBACK_PORT", "PGBACK_USER")
    env.update({k: v.format(**values) for k, v in {**ours, **libpq}.items()})

    outcome = run_subprocess(["doctor"], env, where)

    assert_clean(outcome, bed.canaries)
    one_line(outcome, 5, f"cannot connect to PostgreSQL at {shown.format(**values)}")
    assert ":5432" not in outcome.problems[0]


def test_named_download_dest_is_a_file_exit_2_one_line_file_untouched(bed: Bed) -> None:
    where = case_dir(bed)
    before = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()

    outcome = run_subprocess(["download", "latest", "--dest", "/etc/passwd"], bed.env(), where)

    assert_clean(outcome, bed.canaries)
    one_line(outcome, 2, "--dest '/etc/passwd' is a file, not a directory")
    assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == before
    assert "internal error" not in outcome.stderr


@pytest.mark.parametrize(
    ("env", "phrase", "command"),
    [
        (
            {"PGBACK_CRON_TIMEZONE": "Mars/Olympus", "PGBACK_BACKUP_CRON": "0 2 * * *"},
            "cron_timezone 'Mars/Olympus': not a time zone",
            ["serve"],
        ),
        (
            {"PGBACK_RETENTION_TIMEZONE": "Mars/Olympus", "PGBACK_KEEP_LAST": "2"},
            "retention_timezone 'Mars/Olympus': not a time zone",
            ["purge", "--dry-run"],
        ),
        (
            {"PGBACK_HOST": "../../etc/passwd"},
            "host '../../etc/passwd': not a host name",
            ["doctor"],
        ),
        ({"PGBACK_S3_REGION": "http://"}, "s3_region (env PGBACK_S3_REGION) = 'http://'", ["list"]),
        (
            {"PGBACK_S3_ENDPOINT": "$(id)"},
            "s3_endpoint (env PGBACK_S3_ENDPOINT) = '$(id)'",
            ["list"],
        ),
        (
            {"PGBACK_S3_BUCKET": "two words"},
            "s3_bucket (env PGBACK_S3_BUCKET) = 'two words'",
            ["list"],
        ),
        (
            {"PGBACK_CIPHER_PRIVATE_KEY": "AGE-SECRET-KEY-1TRUNCATED"},
            "cipher_private_key: holds a line that is not an age identity",
            ["verify", "latest"],
        ),
    ],
)
def test_named_config_reports_what_a_command_would_refuse_later(
    bed: Bed, env: dict[str, str], phrase: str, command: list[str]
) -> None:
    where = case_dir(bed)
    settings = bed.env(**env)

    checked = run_subprocess(["config"], settings, where)
    used = run_subprocess(command, settings, where)

    assert_clean(checked, bed.canaries)
    assert_clean(used, bed.canaries)
    one_line(checked, 2, phrase)
    one_line(used, 2, phrase)


def test_named_config_for_a_schedule_free_settings_notes_what_serve_would_refuse(
    bed: Bed,
) -> None:
    outcome = run_subprocess(["config"], bed.env(), case_dir(bed))

    assert outcome.code == 0, outcome.describe()
    assert "note: serve would refuse: serve needs backup_cron" in outcome.stderr


def test_named_s3_endpoint_from_boto3_variable_is_named_when_down(bed: Bed) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = without(bed.env(), "PGBACK_S3_ENDPOINT")
    env["AWS_ENDPOINT_URL_S3"] = dead

    outcome = run_subprocess(["list"], env, case_dir(bed))

    assert_clean(outcome, bed.canaries)
    one_line(outcome, 4, f"the S3 endpoint {dead} (from AWS_ENDPOINT_URL_S3) stopped answering")


def test_named_missing_set_names_bucket_prefix_and_endpoint_from_boto3_variable(
    bed: Bed,
) -> None:
    env = without(bed.env(), "PGBACK_S3_ENDPOINT")
    env["AWS_ENDPOINT_URL"] = bed.s3.endpoint_url

    outcome = run_subprocess(["show", "20200101T000000Z"], env, case_dir(bed))

    assert_clean(outcome, bed.canaries)
    one_line(
        outcome,
        3,
        f"no set 20200101T000000Z in s3://{bed.bucket} ({bed.s3.endpoint_url} (from "
        f"AWS_ENDPOINT_URL)) under prefix '{PREFIX}'",
    )
