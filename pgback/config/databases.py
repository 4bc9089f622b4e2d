"""Per-database settings: the `[databases.NAME]` tables of the settings file.

```toml
[databases.shop]
pg_dump_options = ["--exclude-table-data=audit_log"]   # instead of the global list
exclude = ["tmp_*", "archive.*"]                        # tables left out (pg_dump -T)
jobs = 4                                                # pg_restore -j when restoring it
```

These are not scalar keys, so they are not in `KEYS`: only the settings file has them. Every
problem is reported at once, naming the database and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgback.dumpopts import as_pg_dump_options

TABLE = "databases"


@dataclass(frozen=True)
class DatabaseOptions:
    pg_dump_options: tuple[str, ...] | None = None  # None: the global pg_dump_options
    exclude: tuple[str, ...] = ()  # table patterns, pg_dump --exclude-table
    jobs: int | None = None  # pg_restore -j for this database

    def dump_args(self, default: tuple[str, ...]) -> list[str]:
        args = list(default if self.pg_dump_options is None else self.pg_dump_options)
        return args + [f"--exclude-table={pattern}" for pattern in self.exclude]


def _where(path: object, name: str, key: str | None = None) -> str:
    table = f"[{TABLE}.{_quoted(name)}]"
    return f"config file {path}: {table}" + (f" {key}" if key else "")


def _quoted(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_databases(raw: Any, path: object, problems: list[str]) -> dict[str, DatabaseOptions]:
    """The `databases` table of a settings file; problems appended, each naming where."""
    if not isinstance(raw, Mapping):
        problems.append(
            f"config file {path}: {TABLE} must be a table of tables ([{TABLE}.NAME]), "
            f"not {type(raw).__name__}"
        )
        return {}
    found: dict[str, DatabaseOptions] = {}
    for name, table in raw.items():
        if not isinstance(table, Mapping):
            problems.append(f"{_where(path, name)}: must be a table of keys, not a value")
            continue
        options = _one_database(name, table, path, problems)
        if options is not None:
            found[name] = options
    return found


def _one_database(
    name: str, table: Mapping[str, Any], path: object, problems: list[str]
) -> DatabaseOptions | None:
    before = len(problems)
    unknown = sorted(set(table) - {"pg_dump_options", "exclude", "jobs"})
    for key in unknown:
        problems.append(
            f"{_where(path, name, repr(key))}: unknown key (known: pg_dump_options, exclude, jobs)"
        )
    dump_options: tuple[str, ...] | None = None
    if "pg_dump_options" in table:
        try:
            dump_options = as_pg_dump_options(table["pg_dump_options"])
        except ValueError as exc:
            problems.append(f"{_where(path, name, 'pg_dump_options')}: {exc}")
    exclude: tuple[str, ...] = ()
    if "exclude" in table:
        value = table["exclude"]
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            exclude = tuple(value)
        else:
            problems.append(
                f"{_where(path, name, 'exclude')}: expected a list of table patterns "
                '(["audit_log", "tmp_*"]); to skip the whole database use exclude_dbs'
            )
    jobs: int | None = None
    if "jobs" in table:
        value = table["jobs"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            jobs = value
        else:
            problems.append(
                f"{_where(path, name, 'jobs')}: expected an integer >= 1, got {value!r}"
            )
    if len(problems) > before:
        return None
    return DatabaseOptions(dump_options, exclude, jobs)
