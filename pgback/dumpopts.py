"""Validating `pg_dump_options`: extra pg_dump arguments, minus those pgback sets itself.

pgback decides the format (custom, streamed to standard output), the compression (zstd in the
stream, so pg_dump's is off), the database and the connection (host, port, user and password
through the environment). An option that changes one of those would break the stream or the
restore, so it is refused, in every spelling pg_dump's getopt_long accepts: `-Fp`, `-F p`,
`--format=p`, `--format p`, and unambiguous abbreviations such as `--form=p`. Unknown options
are refused too: an abbreviation can only be resolved against the whole table.

The table is pg_dump 18's (`pg_dump --help`); older pg_dump versions reject what they lack.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

# long option -> (takes a value, short letter or "")
_LONG: dict[str, tuple[bool, str]] = {
    "file": (True, "f"),
    "format": (True, "F"),
    "jobs": (True, "j"),
    "verbose": (False, "v"),
    "version": (False, "V"),
    "compress": (True, "Z"),
    "lock-wait-timeout": (True, ""),
    "no-sync": (False, ""),
    "sync-method": (True, ""),
    "help": (False, "?"),
    "data-only": (False, "a"),
    "large-objects": (False, "b"),
    "blobs": (False, ""),
    "no-large-objects": (False, "B"),
    "no-blobs": (False, ""),
    "clean": (False, "c"),
    "create": (False, "C"),
    "extension": (True, "e"),
    "encoding": (True, "E"),
    "schema": (True, "n"),
    "exclude-schema": (True, "N"),
    "no-owner": (False, "O"),
    "schema-only": (False, "s"),
    "superuser": (True, "S"),
    "table": (True, "t"),
    "exclude-table": (True, "T"),
    "no-privileges": (False, "x"),
    "no-acl": (False, ""),
    "binary-upgrade": (False, ""),
    "column-inserts": (False, ""),
    "attribute-inserts": (False, ""),
    "disable-dollar-quoting": (False, ""),
    "disable-triggers": (False, ""),
    "enable-row-security": (False, ""),
    "exclude-extension": (True, ""),
    "exclude-table-and-children": (True, ""),
    "exclude-table-data": (True, ""),
    "exclude-table-data-and-children": (True, ""),
    "extra-float-digits": (True, ""),
    "filter": (True, ""),
    "if-exists": (False, ""),
    "include-foreign-data": (True, ""),
    "inserts": (False, ""),
    "load-via-partition-root": (False, ""),
    "no-comments": (False, ""),
    "no-data": (False, ""),
    "no-policies": (False, ""),
    "no-publications": (False, ""),
    "no-schema": (False, ""),
    "no-security-labels": (False, ""),
    "no-statistics": (False, ""),
    "no-subscriptions": (False, ""),
    "no-synchronized-snapshots": (False, ""),
    "no-table-access-method": (False, ""),
    "no-tablespaces": (False, ""),
    "no-toast-compression": (False, ""),
    "no-unlogged-table-data": (False, ""),
    "on-conflict-do-nothing": (False, ""),
    "quote-all-identifiers": (False, ""),
    "restrict-key": (True, ""),
    "rows-per-insert": (True, ""),
    "section": (True, ""),
    "sequence-data": (False, ""),
    "serializable-deferrable": (False, ""),
    "snapshot": (True, ""),
    "statistics": (False, ""),
    "statistics-only": (False, ""),
    "strict-names": (False, ""),
    "table-and-children": (True, ""),
    "use-set-session-authorization": (False, ""),
    "dbname": (True, "d"),
    "host": (True, "h"),
    "port": (True, "p"),
    "username": (True, "U"),
    "no-password": (False, "w"),
    "password": (False, "W"),
    "role": (True, ""),
}
# short letter -> long name; -R and -X are accepted and ignored by pg_dump (old options)
_SHORT: dict[str, str] = {short: name for name, (_, short) in _LONG.items() if short}
_IGNORED_SHORT = frozenset("RX")

# what pgback controls, and why the option cannot be given
_REFUSED: dict[str, str] = {
    "file": "pgback reads the dump from pg_dump's standard output",
    "format": "pgback dumps in the custom format, streamed",
    "compress": "pgback compresses in the stream (compress, compress_level)",
    "jobs": "parallel pg_dump needs the directory format, which does not stream",
    "dbname": "pgback names each database itself",
    "host": "the connection comes from host/port/user (PGBACK_HOST, ...)",
    "port": "the connection comes from host/port/user (PGBACK_HOST, ...)",
    "username": "the connection comes from host/port/user (PGBACK_HOST, ...)",
    "no-password": "pgback passes the password through the environment",
    "password": "pgback passes the password through the environment",
    "version": "it prints a version instead of dumping",
    "help": "it prints help instead of dumping",
    "binary-upgrade": "it is for pg_upgrade only",
}


@dataclass(frozen=True)
class Option:
    name: str  # the long name pg_dump resolves it to
    given: str  # as written
    value: str | None = None


def split_options(raw: object) -> tuple[str, ...]:
    """A list (TOML) as is; a string (environment, flag) split the way a shell would."""
    if isinstance(raw, list | tuple):
        return tuple(str(item) for item in raw)
    try:
        return tuple(shlex.split(str(raw)))
    except ValueError as exc:
        raise ValueError(f"cannot split {raw!r} into arguments ({exc})") from None


def parse_options(args: Sequence[str]) -> list[Option]:
    """Resolve each argument as pg_dump would; ValueError naming the first bad one."""
    options: list[Option] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--") and len(arg) > 2:
            text, eq, value = arg[2:].partition("=")
            name = _resolve_long(text, arg)
            takes_value = _LONG[name][0]
            if eq and not takes_value:
                raise ValueError(f"{arg!r}: pg_dump's --{name} takes no value")
            if takes_value and not eq:
                if i >= len(args):
                    raise ValueError(f"{arg!r}: pg_dump's --{name} needs a value")
                value, i = args[i], i + 1
            options.append(Option(name, arg, value if takes_value else None))
        elif arg.startswith("-") and len(arg) > 1 and arg != "--":
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter in _IGNORED_SHORT:
                    continue
                if letter not in _SHORT:
                    raise ValueError(f"{arg!r}: -{letter} is not a pg_dump option")
                name = _SHORT[letter]
                if _LONG[name][0]:
                    value = arg[j:]
                    if not value:
                        if i >= len(args):
                            raise ValueError(f"{arg!r}: pg_dump's -{letter} needs a value")
                        value, i = args[i], i + 1
                    options.append(Option(name, arg, value))
                    break
                options.append(Option(name, arg))
        else:
            raise ValueError(
                f"{arg!r} is not an option (a database name?): pgback names each database "
                "itself; give options only"
            )
    return options


def _resolve_long(text: str, arg: str) -> str:
    if text in _LONG:
        return text
    matches = sorted(name for name in _LONG if name.startswith(text))
    if not matches:
        raise ValueError(f"{arg!r} is not a pg_dump option")
    if len(matches) > 1:
        raise ValueError(
            f"{arg!r} is ambiguous for pg_dump ({', '.join('--' + m for m in matches)}): "
            "write the whole option"
        )
    return matches[0]


def validate(args: Sequence[str]) -> tuple[str, ...]:
    """The arguments, if pg_dump accepts them and none is pgback's; else ValueError saying
    which option and why."""
    for option in parse_options(args):
        why = _REFUSED.get(option.name)
        if why:
            shown = (
                option.given
                if option.given == f"--{option.name}"
                else (f"{option.given!r} (pg_dump's --{option.name})")
            )
            raise ValueError(f"{shown} is set by pgback: {why}; remove it")
    return tuple(args)


def as_pg_dump_options(raw: object) -> tuple[str, ...]:
    """The settings parser of `pg_dump_options`."""
    return validate(split_options(raw))
