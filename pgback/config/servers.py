"""Several database servers in one settings file: `[[servers]]` tables, each with a `name` and
any server-level key (connection, client tools, what to dump, retention, the ping):

    [[servers]]
    name = "billing"
    host = "billing-db"

    [[servers]]
    name = "auth"
    host = "auth-db"
    password_file = "/run/secrets/auth-db"
    exclude_dbs = ["scratch"]

A server's keys win over the same keys set outside `[[servers]]` (file, environment or flags),
which act as every server's defaults. Each server's sets live under `<upload_prefix>/<name>/`.
A secret key may instead be given as `<key>_file`: the file it names is read.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import Any

from pgback.config.settings import (
    CONNECTION,
    DUMP,
    KEYS,
    RETENTION,
    TOOLS,
    ServerEntry,
    Settings,
)
from pgback.errors import UsageError
from pgback.secret import read_secret_file
from pgback.text import brief, plain

SERVER_GROUPS = (CONNECTION, TOOLS, DUMP, RETENTION)
SERVER_KEYS = frozenset(
    {name for name, spec in KEYS.items() if spec.group in SERVER_GROUPS}
    | {"ping_url", "ping_method", "ping_style"}
)
# a path segment that can never be mistaken for a set id (those are digits, T, Z)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")


def parse_servers(raw: Any, origin: str, problems: list[str]) -> tuple[ServerEntry, ...]:
    """The `servers` array of tables; every problem is added to `problems`, named by the
    server (its name, or its position when it has none) and the key."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        problems.append(f"{origin}: servers must be an array of tables ([[servers]])")
        return ()
    entries: list[ServerEntry] = []
    seen: set[str] = set()
    for position, table in enumerate(raw, start=1):
        name = table.get("name")
        where = (
            f"{origin}: [[servers]] {brief(name)}" if name else f"{origin}: [[servers]] #{position}"
        )
        # fullmatch: `$` would let a trailing newline into the folder name
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(
                f"{where}: needs a name of letters, digits, '.', '_' or '-', starting with a "
                "letter (it becomes a folder: <upload_prefix>/<name>/)"
            )
            continue
        if name in seen:
            problems.append(f"{where}: listed twice")
            continue
        seen.add(name)
        entries.append(_entry(name, table, where, problems))
    return tuple(entries)


def _entry(name: str, table: dict[str, Any], where: str, problems: list[str]) -> ServerEntry:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for raw_key, value in table.items():
        if raw_key == "name":
            continue
        key, from_file = raw_key, False
        if raw_key.endswith("_file") and raw_key.removesuffix("_file") in KEYS:
            key, from_file = raw_key.removesuffix("_file"), True
        spec = KEYS.get(key)
        if spec is None or key not in SERVER_KEYS or (from_file and not spec.secret):
            problems.append(f"{where}: {_unknown(raw_key, spec is not None)}")
            continue
        if from_file:
            if not isinstance(value, str):
                problems.append(f"{where}: {raw_key}: expected a file name (a string)")
                continue
            try:
                value = read_secret_file(value)
            except OSError as exc:
                problems.append(
                    f"{where}: {raw_key}: cannot read {plain(value)}: {exc.strerror or exc}"
                )
                continue
            except ValueError as exc:
                problems.append(f"{where}: {raw_key}: {plain(value)}: {exc}")
                continue
        try:
            values[key] = spec.parse(value)
        except ValueError as exc:
            shown = "***" if spec.secret else brief(value)
            problems.append(f"{where}: {raw_key} = {shown}: {exc}")
            continue
        sources[key] = where.replace(": [[servers]]", " [[servers]]")
    return ServerEntry(name, values, sources)


def _unknown(key: str, is_setting: bool) -> str:
    if is_setting:
        return f"{key} is not a server-level key: set it once, outside [[servers]]"
    guess = difflib.get_close_matches(key, sorted(SERVER_KEYS), n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"unknown key {key!r}{hint}"


def server_prefix(upload_prefix: str, name: str) -> str:
    base = upload_prefix.strip("/")
    return f"{base}/{name}" if base else name


def for_server(settings: Settings, entry: ServerEntry) -> Settings:
    """The settings one server's runs use: its keys over the shared ones, its own prefix."""
    return replace(
        settings,
        **entry.values,
        upload_prefix=server_prefix(settings.upload_prefix, entry.name),
        sources={**settings.sources, **entry.sources},
        servers=(),
        server=entry.name,
    )


def select_servers(
    settings: Settings, name: str | None, *, command: str, every: bool = False
) -> list[Settings]:
    """The settings `command` runs with: the named server's; every server's (`every`, or when
    only one is listed); or the settings as they are when no servers are listed."""
    if not settings.servers:
        if name:
            raise UsageError(
                f"--server {name}: the configuration lists no [[servers]]: drop --server"
            )
        return [settings]
    names = [entry.name for entry in settings.servers]
    if name:
        for entry in settings.servers:
            if entry.name == name:
                return [for_server(settings, entry)]
        raise UsageError(f"--server {name}: no such server; the servers are {', '.join(names)}")
    if every or len(names) == 1:
        return [for_server(settings, entry) for entry in settings.servers]
    raise UsageError(
        f"{command}: {len(names)} servers are listed ({', '.join(names)}): "
        "choose one with --server NAME"
    )
