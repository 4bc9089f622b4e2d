"""Restoring pg_back's other dump formats: plain SQL (`.sql`, `.sql.gz`) through psql.

pg_back's default, the custom format, and its tar format go through pg_restore like pgback's
own dumps. A plain dump is an SQL script: it is streamed into psql (ON_ERROR_STOP) in a
database pgback creates first, and cannot be restored in part. A directory-format dump is many
objects: `pgback download --decrypt` fetches them, then `pg_restore -Fd` restores them.
"""

from __future__ import annotations

import subprocess
import zlib
from typing import Any

from pgback.actions.context import log
from pgback.actions.fetch import stream_plain
from pgback.actions.restore_plan import Selection, partial, target_name
from pgback.adapters import pgclients
from pgback.adapters.conninfo import dbname_arg
from pgback.config import Settings
from pgback.errors import IntegrityError, UsageError
from pgback.manifest import FileEntry
from pgback.process import Child
from pgback.storage.base import Storage


def dump_format(entry: FileEntry) -> str:
    return getattr(entry, "format", "") or "custom"


def check_formats(entries: list[FileEntry], options: Selection) -> None:
    """Refuse, before anything is restored, what these formats cannot do."""
    for entry in entries:
        fmt = dump_format(entry)
        if fmt == "directory":
            raise UsageError(
                f"database {entry.name!r} is a directory-format dump: fetch it with `pgback "
                "download SET --dest DIR --decrypt`, then restore it with pg_restore -Fd"
            )
        if fmt == "plain" and (partial(options) or options.no_owner or options.no_privileges):
            raise UsageError(
                f"database {entry.name!r} is a plain SQL dump: it restores whole, through "
                "psql (no --schema, --table, --data-only, --schema-only, --no-owner)"
            )


class _Gunzip:
    """A `.sql.gz` dump (pg_back's plain format with compress_level > 0), inflated on the way."""

    def __init__(self, target: Any, what: str) -> None:
        self._target = target
        self._what = what
        self._inflate = zlib.decompressobj(wbits=31)

    def write(self, data: bytes) -> int:
        try:
            self._target.write(self._inflate.decompress(data))
        except zlib.error as exc:
            raise IntegrityError(f"{self._what}: gzip data is corrupted ({exc})") from None
        return len(data)

    def flush(self) -> None:
        self._target.flush()


def restore_plain(
    settings: Settings,
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    options: Selection,
    mode: str,
) -> None:
    from psycopg import sql

    target = target_name(options, entry.name)
    with options.target.connect() as conn:
        ident = sql.Identifier(target)
        if mode == "used":  # --clean (the guard refused it otherwise): replace the database
            force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(ident))
        if mode != "empty":
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
    what = f"restoring database {entry.name!r} (plain SQL) through psql"
    log.info(what)
    argv = [
        # pg_back's plain dumps carry no pg_dump version: the newest psql reads every one
        pgclients.for_archive(settings.pg_bin_dir, "unknown", None, ("psql",)).program("psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        dbname_arg(target),
    ]
    child = Child(
        [*argv, "-f", "-"],
        env=options.target.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        secrets=options.target.secrets,
    )
    sink: Any = child.stdin
    if getattr(entry, "original", "").endswith(".gz"):
        sink = _Gunzip(child.stdin, entry.key)
    try:
        stream_plain(storage, entry, identities, sink)
        child.stdin.close()
    except BaseException:
        child.kill()
        raise
    child.check(what)
