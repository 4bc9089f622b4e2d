"""Throwaway PostgreSQL clusters on loopback, for pytest fixtures and the scenario harness.

Each server is a real cluster in its own temp directory: initdb'd with a password for the
`postgres` superuser (TCP clients must authenticate, so secret handling is exercised), listening
on 127.0.0.1 and a free port, with durability switched off for speed.

Layout of a server's working directory (mode 0700, owned by the server's OS user):
    data/          the cluster (PGDATA)
    server.log     the postmaster's log (pg_ctl -l)
    .s.PGSQL.PORT  its Unix socket (always set with -k: Debian's default is /var/run/postgresql)
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import psycopg
from psycopg import sql as pgsql
from psycopg.abc import Params
from psycopg.conninfo import make_conninfo

from pgback.testbed.common import (
    LIVE,
    TestbedError,
    file_size,
    read_from,
    started,
    tail,
    tmp_root,
    with_log,
)
from pgback.testbed.pginstall import (
    OsUser,
    as_user,
    find_bindir,
    reachable_bindir,
    server_os_user,
)
from pgback.testbed.ports import LOOPBACK, free_port

__all__ = ["PostgresServer", "SqlText", "StopMode", "find_bindir", "postgres_server"]

SUPERUSER = "postgres"
# Fresh ports tried when another process (a parallel pytest worker) grabs ours first.
START_ATTEMPTS = 5
# Throwaway data: surviving an OS crash only costs time here. synchronous_commit stays on: with
# fsync=off it costs next to nothing, and with it off, kill() silently loses the last commits
# (WAL still in shared memory), which would make fault tests flaky.
_SPEED_SETTINGS = ("fsync=off", "full_page_writes=off")
_PORT_TAKEN = ("Address already in use", "could not create any TCP/IP sockets")

# SQL accepted by execute()/query(). Plain str is allowed although psycopg's types ask for a
# LiteralString (mypy does not enforce that; pyright would): test and scenario SQL is written by
# test authors, often read from scenario files, never assembled from untrusted input.
SqlText = str | pgsql.SQL | pgsql.Composed
StopMode = Literal["smart", "fast", "immediate"]


class PostgresServer:
    """One throwaway PostgreSQL cluster. Nothing exists on disk until start().

    After start(), `port` stays the same across stop()/start() and recreate().
    """

    host: str = LOOPBACK
    user: str = SUPERUSER

    def __init__(
        self,
        *,
        bindir: Path | None = None,
        password: str | None = None,
        port: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.password = password if password is not None else secrets.token_urlsafe(18)
        if "\n" in self.password or "\r" in self.password:
            raise TestbedError("initdb --pwfile reads one line: the password cannot hold a newline")
        self.os_user: OsUser | None = server_os_user()
        self.bindir = reachable_bindir(bindir or find_bindir(), self.os_user)
        self.port = port if port is not None else free_port()
        self.start_timeout = start_timeout
        self._port_fixed = port is not None
        self._workdir: Path | None = None
        self._version: int | None = None

    def __repr__(self) -> str:
        # Never the password: fixtures and failing tests print this.
        return f"PostgresServer({self.host}:{self.port}, workdir={self._workdir})"

    # --- locations --------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise TestbedError("the server has no working directory: call start() first")
        return self._workdir

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.workdir

    # --- connection details -----------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq key=value connection string (values quoted as libpq requires)."""
        return make_conninfo(
            "",
            host=self.host,
            port=str(self.port),
            user=self.user,
            password=self.password,
            dbname=dbname,
        )

    def url(self, dbname: str = "postgres") -> str:
        """A postgresql:// URL, every part percent-encoded."""
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def env(self, dbname: str = "postgres") -> dict[str, str]:
        """libpq variables for child processes (pg_dump, psql, the pgback CLI)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname,
        }

    @property
    def version(self) -> int:
        """The server's major version, e.g. 18 (asked once per cluster)."""
        if self._version is None:
            rows = self.query("SELECT current_setting('server_version_num')::int")
            self._version = int(rows[0][0]) // 10000
        return self._version

    # --- SQL --------------------------------------------------------------------------------

    def connect(
        self, dbname: str = "postgres", autocommit: bool = True
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """A new connection over TCP with the password; the caller closes it."""
        return psycopg.connect(self.dsn(dbname), autocommit=autocommit, connect_timeout=10)

    def execute(
        self, statement: SqlText, params: Params | None = None, *, dbname: str = "postgres"
    ) -> None:
        """Run SQL in autocommit mode (so CREATE DATABASE works).

        Several ;-separated statements are allowed when there are no params.
        """
        with self.connect(dbname) as conn:
            conn.execute(statement, params)

    def query(
        self, statement: SqlText, params: Params | None = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement and return all its rows."""
        with self.connect(dbname) as conn:
            return conn.execute(statement, params).fetchall()

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster if needed, start it and wait until it accepts the password.

        If this raises, call destroy() (postgres_server() does) to remove what was made.
        """
        if self.is_running():
            return
        LIVE.add(self)
        if self._workdir is None:
            self._workdir = self._make_workdir()
            self._initdb()
        self._start_postmaster()
        self._wait_ready()

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server (pg_ctl -m smart|fast|immediate); the cluster stays on disk."""
        if not self.is_running():
            return
        try:
            self._pg_ctl("stop", "-m", mode)
        except TestbedError:
            if self.is_running():
                raise

    def kill(self) -> None:
        """Stop abruptly (immediate shutdown): clients see their connections drop, for faults.

        The next start() does crash recovery, as after a real crash; committed data survives
        (synchronous_commit is left on for that).
        """
        self.stop(mode="immediate")

    def destroy(self) -> None:
        """Stop the server by any means and remove its working directory. Idempotent."""
        if self._workdir is not None:
            self._stop_by_any_means()
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._version = None
        LIVE.discard(self)

    def recreate(self) -> None:
        """Replace the cluster with a fresh empty one on the same port, with the same password."""
        self.destroy()
        self._port_fixed = True
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log ("" before start or after destroy)."""
        return tail(self.log_path, lines) if self._workdir is not None else ""

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while its postmaster.pid file exists."""
        if self._workdir is None:
            return None
        try:
            first_line = (self.datadir / "postmaster.pid").read_text().split("\n", 1)[0]
        except (FileNotFoundError, PermissionError):
            return None
        return int(first_line) if first_line.strip().isdigit() else None

    def is_running(self) -> bool:
        pid = self.pid
        return pid is not None and _process_alive(pid)

    # --- internals --------------------------------------------------------------------------

    def _make_workdir(self) -> Path:
        workdir = Path(tempfile.mkdtemp(prefix="pgback-pg-", dir=tmp_root()))
        if self.os_user is not None:
            os.chown(workdir, self.os_user.uid, self.os_user.gid)
        return workdir

    def _initdb(self) -> None:
        pwfile = self.workdir / "pwfile"
        self._write_private(pwfile, self.password + "\n")
        try:
            self._run_program(
                "initdb",
                *("-D", str(self.datadir), "-U", SUPERUSER, "-E", "UTF8"),
                *("--locale=C.UTF-8", "--no-sync"),
                *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"),
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _write_private(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if self.os_user is not None:
                os.fchown(handle.fileno(), self.os_user.uid, self.os_user.gid)
            handle.write(text)

    def _start_postmaster(self) -> None:
        for _attempt in range(START_ATTEMPTS):
            log_offset = file_size(self.log_path)
            try:
                self._pg_ctl("start", "-l", str(self.log_path), "-o", self._server_options())
            except TestbedError as error:
                new_log = read_from(self.log_path, log_offset)
                if self._port_fixed or not any(text in new_log for text in _PORT_TAKEN):
                    raise TestbedError(with_log(str(error), "server.log", new_log)) from None
                self.port = free_port()  # lost a race for the port: try another
                continue
            self._port_fixed = True
            return
        raise TestbedError(f"no free port after {START_ATTEMPTS} attempts")

    def _server_options(self) -> str:
        options = [
            *("-c", f"listen_addresses={self.host}", "-p", str(self.port)),
            *("-k", str(self.socket_dir)),
        ]
        for setting in _SPEED_SETTINGS:
            options += ["-c", setting]
        # pg_ctl hands -o to a shell: quote every word.
        return shlex.join(options)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.Error as error:
                last_error = error
            if not self.is_running() or time.monotonic() > deadline:
                message = f"PostgreSQL on {self.host}:{self.port} is not ready: {last_error}"
                raise TestbedError(with_log(message, "server.log", self.log_tail()))
            time.sleep(0.05)

    def _stop_by_any_means(self) -> None:
        modes: tuple[StopMode, ...] = ("fast", "immediate")
        for mode in modes:
            try:
                self.stop(mode)
                return
            except TestbedError:
                continue
        pid = self.pid
        if pid is not None and _process_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def _pg_ctl(self, action: str, *args: str) -> None:
        wait = ("-w", "-t", str(int(self.start_timeout)))
        self._run_program("pg_ctl", "-D", str(self.datadir), *wait, *args, action)

    def _run_program(self, program: str, *args: str) -> None:
        argv = [*as_user(self.os_user), str(self.bindir / program), *args]
        _run(argv, cwd=self.workdir, env=_server_env(self.workdir))


@contextmanager
def postgres_server(
    *, bindir: Path | None = None, password: str | None = None, port: int | None = None
) -> Iterator[PostgresServer]:
    """A started PostgresServer, stopped and removed on exit even if the body or start fails."""
    with started(PostgresServer(bindir=bindir, password=password, port=port)) as server:
        yield server


# --- module helpers -----------------------------------------------------------------------------


def _server_env(home: Path) -> dict[str, str]:
    # libpq's PG* variables (PGPORT, PGDATA, PGHOST...) in our environment would silently change
    # what initdb and pg_ctl do; HOME is ours (/root) and may be unreadable for the server user.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["HOME"] = str(home)
    return env


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 180.0) -> None:
    # Output goes to a file, not a pipe: pg_ctl leaves a daemon behind, and a daemon holding our
    # pipe open would make us wait for ever.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
        try:
            result = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TestbedError(f"{shlex.join(argv)} took more than {timeout} s") from None
        output.seek(0)
        text = output.read()
    if result.returncode != 0:
        raise TestbedError(f"{shlex.join(argv)} exited {result.returncode}:\n{text[-3000:]}")


def _process_alive(pid: int) -> bool:
    # Zombies count as gone: PID 1 in some containers never reaps the orphaned postmaster.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")
