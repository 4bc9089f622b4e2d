"""Child programs: errors say what failed and why; secrets never leak into messages or children."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgback.adapters import pgclients
from pgback.errors import ProcessError
from pgback.process import Child, child_env, run, summary_line

PY = sys.executable


def script(code: str) -> list[str]:
    return [PY, "-c", code]


def test_run_failing_program_error_has_exit_code_and_the_error_line() -> None:
    code = (
        "import sys; sys.stderr.write('pg_restore: error: could not execute query: "
        'ERROR:  role "alice" does not exist\\nCommand was: ALTER DATABASE x OWNER TO alice;\\n\');'
        " sys.exit(3)"
    )

    with pytest.raises(ProcessError) as caught:
        run(script(code), env=child_env(), what="restoring database 'x'")

    message = str(caught.value)
    assert message.startswith("restoring database 'x': python")
    assert "(exit 3)" in message
    assert message.endswith('role "alice" does not exist')
    assert caught.value.returncode == 3
    assert "Command was" in caught.value.stderr_tail


def test_run_secret_in_stderr_is_masked_everywhere() -> None:
    code = "import sys; sys.stderr.write('FATAL: password hunter2secret rejected\\n'); sys.exit(1)"

    with pytest.raises(ProcessError) as caught:
        run(script(code), env=child_env(), what="dumping", secrets=["hunter2secret"])

    assert "hunter2secret" not in str(caught.value)
    assert "hunter2secret" not in caught.value.stderr_tail
    assert "***" in str(caught.value)


def test_child_killed_program_error_says_signal() -> None:
    child = Child(script("import time; time.sleep(30)"), env=child_env())
    child.kill()

    error = child.error("dumping database 'app'")

    assert "signal 9" in str(error) and "dumping database 'app'" in str(error)


def test_child_check_success_returns_and_stdout_streams() -> None:
    child = Child(script("print('x' * 100000)"), env=child_env())

    data = child.stdout.read()
    child.check("printing")

    assert data.strip() == b"x" * 100000


def test_child_env_own_secrets_are_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGBACK_S3_SECRET", "s3-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("POSTGRES_PASSWORD", "seed-secret")
    monkeypatch.setenv("PGBACK_CIPHER_PASS", "passphrase")

    env = child_env({"PGPASSWORD": "for-libpq"})
    seen = subprocess.run(
        script("import os; print(sorted(os.environ.items()))"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    for secret in ("s3-secret", "aws-secret", "seed-secret", "passphrase"):
        assert secret not in seen
    assert "for-libpq" in seen


def test_client_tools_missing_in_pg_bin_dir_say_which_setting(tmp_path: Path) -> None:
    # (the program lookup moved from pgback.process to pgback.adapters.pgclients)
    with pytest.raises(ProcessError, match=f"pg_bin_dir {tmp_path}"):
        pgclients.for_server(str(tmp_path), "18.1")


@pytest.mark.parametrize(
    ("tail", "line"),
    [
        ("", "no error output"),
        ("just one line", "just one line"),
        ("pg_dump: error: connection failed\n", "pg_dump: error: connection failed"),
        ("psql:<stdin>:3: ERROR:  boom\nLINE 1: CREATE ...\n", "psql:<stdin>:3: ERROR:  boom"),
        ("warning one\nlast words\n", "last words"),
    ],
)
def test_summary_line_stderr_gives_the_line_naming_the_error(tail: str, line: str) -> None:
    assert summary_line(tail) == line
