"""`[[servers]]` in the settings file: parsing, every problem at once, secrets redacted, and
which server each command runs for."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback import cli
from pgback.config import load_settings
from pgback.config.servers import select_servers
from pgback.errors import ConfigError, UsageError
from pgback.secret import Secret


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pgback.toml"
    path.write_text(text)
    return path


def test_load_settings_servers_get_their_own_keys_prefix_and_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "auth-password"
    secret.write_text("s3cr3t-auth\n")
    path = config(
        tmp_path,
        f"""
upload_prefix = "prod"
jobs = 2
[[servers]]
name = "billing"
host = "billing-db"
[[servers]]
name = "auth"
host = "auth-db"
port = 5433
password_file = "{secret}"
exclude_dbs = ["scratch"]
keep_daily = 7
""",
    )

    settings = load_settings(env={}, config_file=path)
    billing, auth = select_servers(settings, None, command="backup", every=True)

    assert (billing.server, billing.host, billing.upload_prefix, billing.jobs) == (
        "billing",
        "billing-db",
        "prod/billing",
        2,
    )
    assert (auth.host, auth.port, auth.upload_prefix) == ("auth-db", 5433, "prod/auth")
    assert auth.password == Secret("s3cr3t-auth")
    assert auth.exclude_dbs == ("scratch",) and auth.keep_daily == 7
    assert billing.password is None and billing.keep_daily is None
    assert select_servers(settings, "auth", command="show")[0].host == "auth-db"


def test_load_settings_server_problems_are_all_reported_naming_server_and_key(
    tmp_path: Path,
) -> None:
    path = config(
        tmp_path,
        """
[[servers]]
host = "nameless"
[[servers]]
name = "auth"
hots = "auth-db"
port = "many"
s3_bucket = "other"
[[servers]]
name = "auth"
[[servers]]
name = "20250101T000000Z"
""",
    )

    with pytest.raises(ConfigError) as raised:
        load_settings(env={}, config_file=path)

    problems = raised.value.problems
    assert len(problems) == 6, problems
    name_rule = (
        "needs a name of letters, digits, '.', '_' or '-', starting with a letter (it becomes "
        "a folder: <upload_prefix>/<name>/)"
    )
    assert problems[0].endswith(f"[[servers]] #1: {name_rule}")
    assert problems[1].endswith("[[servers]] 'auth': unknown key 'hots' (did you mean 'host'?)")
    assert problems[2].endswith(
        "[[servers]] 'auth': port = 'many': expected an integer, got 'many'"
    )
    assert problems[3].endswith(
        "[[servers]] 'auth': s3_bucket is not a server-level key: set it once, outside [[servers]]"
    )
    assert problems[4].endswith("[[servers]] 'auth': listed twice")
    assert problems[5].endswith(f"[[servers]] '20250101T000000Z': {name_rule}")  # a set id


def test_load_settings_server_cross_checks_name_the_server(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        """
[[servers]]
name = "auth"
include_dbs = ["a"]
exclude_dbs = ["a"]
""",
    )

    with pytest.raises(ConfigError) as raised:
        load_settings(env={}, config_file=path)

    assert raised.value.problems == ["[[servers]] 'auth': databases both included and excluded: a"]


def test_select_servers_without_servers_is_the_settings_and_refuses_a_name() -> None:
    settings = load_settings(env={})

    assert select_servers(settings, None, command="show") == [settings]
    with pytest.raises(UsageError, match="lists no \\[\\[servers\\]\\]"):
        select_servers(settings, "auth", command="show")


def test_cli_config_shows_each_server_key_with_secrets_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(
        tmp_path,
        """
[[servers]]
name = "auth"
host = "auth-db"
password = "never-printed"
ping_url = "https://hc-ping.com/also-never-printed"
""",
    )
    for name in ("PGBACK_CONFIG", "PGBACK_HOST", "PGBACK_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    code = cli.run(["config", "--config", str(path)])

    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["servers.auth.host"][0] == "auth-db"
    assert rows["servers.auth.password"][0] == "***"
    assert rows["servers.auth.ping_url"][0] == "***"
    assert "never-printed" not in out
