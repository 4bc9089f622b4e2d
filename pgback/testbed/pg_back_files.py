"""Files made the way pg_back makes them, for tests and scenarios of the way in from pg_back.

Real pg_dumpall (globals), pg_dump (each database, custom format unless told), the settings
and the hba/ident files read over SQL, checksum files in shaXsum's format, the real age CLI
(key or passphrase), each named as pg_back names it (`<name>_<timestamp>.<ext>[.age]`), then
uploaded under the prefix, as pg_back's upload does.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from psycopg.conninfo import make_conninfo

from pgback.testbed import agecli


class Server(Protocol):
    """A PostgreSQL server reachable from here (a test bed server or a scenario service)."""

    host: str
    port: int
    user: str
    password: str

    def query(self, statement: str, params: Any = None, *, dbname: str = "postgres") -> Any: ...


RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
LEGACY = "%Y-%m-%d_%H-%M-%S"
_EXTENSIONS = {"custom": ("c", "dump"), "tar": ("t", "tar"), "plain": ("p", "sql")}
BACKUP_DIRECTORY = "/var/backups/postgresql"  # the paths pg_back writes into checksum files


def make_pg_back_run(
    server: Server,
    bindir: Path,
    upload: Callable[[str, Path], None],
    prefix: str,
    databases: list[str],
    *,
    when: datetime,
    timestamp_format: str = RFC3339,
    dump_format: str = "custom",
    recipient: str | None = None,
    passphrase: str | None = None,
    checksum: str | None = None,
    database_delay: timedelta = timedelta(0),
) -> list[str]:
    """One pg_back run's files uploaded under `prefix`; the keys, in upload order.

    `database_delay`: each database's file is stamped that much after the previous one, as
    pg_back does without uniform_timestamp."""
    keys: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pgback-pg_back-") as tmp:
        work = Path(tmp)
        stamp = when.astimezone(UTC)
        produced: list[Path] = []
        ts = stamp.strftime(timestamp_format)
        produced.append(_globals(server, bindir, work / f"pg_globals_{ts}.sql"))
        for name, text in _instance_files(server).items():
            path = work / f"{name}_{ts}.out"
            path.write_text(text)
            produced.append(path)
        letter, extension = _EXTENSIONS[dump_format]
        for db in databases:
            stamp += database_delay
            path = work / f"{db.replace('/', '_')}_{stamp.strftime(timestamp_format)}.{extension}"
            _pg_dump(server, bindir, db, letter, path)
            produced.append(path)
        for path in produced:
            for made in _post_process(path, recipient, passphrase, checksum):
                key = f"{prefix.strip('/')}/{made.name}" if prefix.strip("/") else made.name
                upload(key, made)
                keys.append(key)
    return keys


def _env(server: Server) -> dict[str, str]:
    return {"PGPASSWORD": server.password, "PATH": "/usr/bin:/bin"}


def _conninfo(server: Server, dbname: str) -> str:
    return make_conninfo(host=server.host, port=str(server.port), user=server.user, dbname=dbname)


def _globals(server: Server, bindir: Path, path: Path) -> Path:
    conninfo = _conninfo(server, "postgres")
    subprocess.run(
        [str(bindir / "pg_dumpall"), "-g", "-w", "-d", conninfo, "-f", str(path)],
        env=_env(server),
        check=True,
        capture_output=True,
    )
    return path


def _instance_files(server: Server) -> dict[str, str]:
    rows = server.query(
        "SELECT name, setting FROM pg_show_all_file_settings() WHERE applied ORDER BY name"
    )
    files = {"pg_settings": "".join(f"{name} = '{value}'\n" for name, value in rows)}
    for setting in ("hba_file", "ident_file"):
        found = server.query(f"SELECT pg_read_file(current_setting('{setting}'))")
        files[setting] = str(found[0][0])
    return files


def _pg_dump(server: Server, bindir: Path, db: str, letter: str, path: Path) -> None:
    conninfo = _conninfo(server, db)
    subprocess.run(
        [str(bindir / "pg_dump"), f"-F{letter}", "-f", str(path), "-w", "-d", conninfo],
        env=_env(server),
        check=True,
        capture_output=True,
    )


def _sum_line(path: Path, algorithm: str, binary: bool) -> str:
    digest = hashlib.new(algorithm, path.read_bytes()).hexdigest()
    return (
        f"{digest} *{BACKUP_DIRECTORY}/{path.name}\n"
        if binary
        else (f"{digest}  {BACKUP_DIRECTORY}/{path.name}\n")
    )


def _post_process(
    path: Path, recipient: str | None, passphrase: str | None, checksum: str | None
) -> list[Path]:
    """pg_back's order: checksum of the plain file, encryption of both (the sources removed),
    then the checksum of each encrypted file."""
    made = [path]
    if checksum:
        sum_file = path.with_name(f"{path.name}.{checksum}")
        sum_file.write_text(_sum_line(path, checksum, binary=False))
        made.append(sum_file)
    if not (recipient or passphrase):
        return made
    encrypted = []
    for plain in made:
        target = plain.with_name(plain.name + ".age")
        if recipient:
            agecli.encrypt_to_recipient(plain, target, recipient)
        else:
            assert passphrase is not None
            agecli.encrypt_to_passphrase(plain, target, passphrase)
        plain.unlink()
        encrypted.append(target)
        if checksum:
            sum_file = target.with_name(f"{target.name}.{checksum}")
            sum_file.write_text(_sum_line(target, checksum, binary=True))
            encrypted.append(sum_file)
    return encrypted
