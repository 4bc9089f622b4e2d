"""Case 10: invalid configuration, every problem reported at once (exit 2), from the TOML file,
the environment and the flags together, without echoing a secret."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import EnvFor
from .harness import CHILD_PROGRAMS, Bucket, Canaries, assert_no_secrets, run_pgback

pytestmark = pytest.mark.integration


def test_invalid_configuration_every_problem_listed_at_once_exit_2_nothing_run(
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    tmp_path: Path,
    good_set: Callable[..., str],
) -> None:
    good = good_set()
    before = {good: store.snapshot(good)}
    config = tmp_path / "pgback.toml"
    config.write_text(
        "s3_buckett = 'typo'\n"  # unknown key
        "purge_older_than = '10 parsecs'\n"  # bad duration
        "backup_cron = '61 * * * *'\n"  # bad cron
        "jobs = 0\n"
        f"password = '{canaries.pg_password.replace(chr(39), '')}'\n"  # a secret in the file
    )
    env = env_for(
        store,
        config=config,
        s3_endpoint="ftp://s3.example.com",  # bad URL
        webhook_url="file:///etc/passwd",  # bad URL
        cipher_public_key="age1notakey,ssh-rsa AAAA",  # bad keys
        cipher_private_key=f"not-a-key-{canaries.age_identity[-20:]}",  # a secret, bad
        stop_grace_period="soon",  # bad duration
        compress_level="99",
        health_listen="no-port",
        keep_last=1,
    )

    outcome = run_pgback(env, "backup", "--s3-part-size-mib", "1")

    assert outcome.returncode == 2, outcome.describe()
    lines = outcome.stderr.splitlines()
    assert lines[0].startswith("pgback: error: "), outcome.describe()
    assert "configuration problems" in lines[0]
    problems = [line.strip() for line in lines[1:] if line.startswith("  - ")]
    expected = [
        "unknown key 's3_buckett'",
        "purge_older_than",
        "backup_cron '61 * * * *'",
        "jobs",
        "s3_endpoint 'ftp://s3.example.com'",
        "webhook_url 'file:///etc/passwd'",
        "cipher_public_key 'ssh-rsa AAAA'",
        "cipher_private_key: not an age identity",
        "stop_grace_period",
        "compress_level",
        "health_listen 'no-port'",
        "s3_part_size_mib (flag)",
    ]
    for phrase in expected:
        assert [p for p in problems if phrase in p], f"{phrase!r} missing from {problems}"
    assert len(problems) == len(expected) + 1, problems  # + 'age1notakey'
    assert not outcome.programs() & set(CHILD_PROGRAMS)  # nothing was dumped
    assert_no_secrets(outcome, canaries)
    assert canaries.age_identity[-20:] not in outcome.stderr
    assert store.objects() == before[good]  # nothing stored, nothing purged
