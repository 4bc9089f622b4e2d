"""No secret in any output, log line, manifest, object name, child argv or child environment,
over a whole cycle with every secret set to a known canary value; once from the environment
and once from `*_FILE` variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.testbed import PostgresServer

from .conftest import EnvFor
from .harness import Bucket, Canaries, assert_no_secrets, run_pgback

pytestmark = pytest.mark.integration


def target_args(target: PostgresServer) -> list[str]:
    return ["--target", f"host={target.host} port={target.port} user={target.user}"]


def as_files(env: dict[str, str], tmp_path: Path, *names: str) -> dict[str, str]:
    """The same environment with these secrets moved into files named by `<NAME>_FILE`."""
    moved = dict(env)
    for name in names:
        path = tmp_path / name.lower()
        path.write_text(moved.pop(name) + "\n")
        moved[name + "_FILE"] = str(path)
    return moved


@pytest.mark.parametrize("source", ["env", "files"])
def test_backup_verify_restore_config_no_secret_in_output_argv_or_child_environment(
    source: str,
    env_for: EnvFor,
    store: Bucket,
    canaries: Canaries,
    target: PostgresServer,
    tmp_path: Path,
) -> None:
    env = {
        # big: a pg_dump that lives long enough for the process sampling to see it
        **env_for(store, include_dbs="small,big", jobs=2, cipher_private_key=canaries.age_identity),
        "PGBACK_TARGET_PASSWORD": canaries.target_password,
    }
    if source == "files":
        env = as_files(
            env,
            tmp_path,
            "PGBACK_PASSWORD",
            "PGBACK_S3_KEY_ID",
            "PGBACK_S3_SECRET",
            "PGBACK_CIPHER_PRIVATE_KEY",
            "PGBACK_TARGET_PASSWORD",
        )

    commands: list[list[str]] = [
        ["backup"],
        ["verify", "latest"],
        ["restore", "latest", *target_args(target), "--databases", "small"],
    ]
    if source == "env":  # these read the same settings whatever their source
        commands += [["list"], ["show", "latest"], ["config"]]
    outcomes = [run_pgback(env, *command) for command in commands]

    for outcome in outcomes:
        assert outcome.returncode == 0, outcome.describe()
        assert_no_secrets(outcome, canaries)
    backup, verify, restore = outcomes[:3]
    # the sampling saw the programs that get a password, so the checks above had teeth
    # (pg_dumpall and psql live some 50 ms: a loaded machine may hide them from a sweep)
    assert "pg_dump" in backup.programs(), backup.describe()
    assert "pg_restore" in verify.programs(), verify.describe()
    assert "pg_restore" in restore.programs(), restore.describe()
    for child in backup.children + restore.children:
        connects = not {"--version", "-V", "--list"} & set(child.argv)
        if child.name in ("pg_dump", "pg_dumpall", "psql", "pg_restore") and connects:
            assert "PGPASSWORD" in child.environ, child.argv  # by the environment, not argv
    # nor in the bucket (manifest, object names), nor in the state directory
    assert_no_secrets(backup, canaries, store.all_text())
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert_no_secrets(backup, canaries, path.read_text(errors="replace"))
    if source == "env":
        assert "***" in outcomes[-1].stdout  # `pgback config` shows secrets redacted
