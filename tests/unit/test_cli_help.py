"""The command line as a new user meets it: per-command help, boolean flags, missing extras."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pgback import cli
from pgback.config import KEYS


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        cli.run([command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_cli_restore_help_lists_only_the_settings_restore_uses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of("restore", capsys)

    for absent in ("--backup-cron", "--webhook-url", "--health-listen", "--keep-last", "--jobs"):
        assert absent not in text
    for present in ("--target", "--s3-bucket", "--pg-bin-dir", "PGBACK_S3_BUCKET"):
        assert present in text
    assert "PGBACK_CIPHER_PRIVATE_KEY" in text  # named, as a secret that is never a flag


def test_cli_serve_help_lists_the_sidecar_settings_with_their_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of("serve", capsys)

    assert "sidecar settings" in text
    assert "--backup-cron" in text and "PGBACK_BACKUP_CRON" in text


def test_cli_boolean_settings_take_flag_and_no_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.run(["config", "--no-encrypt", "--s3-force-path", "--role-passwords"])

    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert code == 0
    assert rows["encrypt"] == ["False", "flag"]
    assert rows["s3_force_path"] == ["True", "flag"]
    assert rows["no_role_passwords"] == ["False", "flag"]


def test_cli_boolean_flag_takes_no_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.run(["backup", "--encrypt", "true"])

    assert done.value.code == 2
    assert "unrecognized arguments: true" in capsys.readouterr().err


def test_cli_config_keys_lists_every_setting_with_its_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.run(["config", "--keys"])

    out = capsys.readouterr().out
    assert code == 0
    for spec in KEYS.values():
        assert spec.name in out and spec.env in out


def test_cli_run_scenario_without_the_testbed_extra_names_the_install_line() -> None:
    # sys.modules[name] = None is Python's own way of making a package unimportable
    program = (
        "import sys, runpy; sys.modules['freezegun'] = None; sys.argv = ['pgback', "
        "'run-scenario', 'readme-walkthrough']; runpy.run_module('pgback', run_name='__main__')"
    )

    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "pgback: error: run-scenario needs the test bed, which is not installed (missing: "
        "freezegun): pip install 'pgback[testbed]'"
    ]
