"""Restore errors a role that is not a superuser meets without the restore being wrong.

A managed service's owner role may not create roles nor give objects to roles it is not a
member of: replaying `ALTER TABLE ... OWNER TO postgres` or `GRANT ... TO bob` fails for it,
while the tables and their rows restore fine. pg_restore cannot skip only those statements
(`--no-owner` / `--no-privileges` skip all of them, silently), so for such a role it runs
without `--exit-on-error` and every error it printed is judged here: ownership and privilege
statements refused for a role are collected and reported; any other error fails the restore.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pgback.errors import ProcessError

# the statements that only say who owns or may use an object
_GRANT_LIKE = re.compile(
    r"^\s*(GRANT\s|REVOKE\s|ALTER\s+DEFAULT\s+PRIVILEGES\s|ALTER\s+.+\sOWNER\s+TO\s)",
    re.IGNORECASE | re.DOTALL,
)
# the server's reasons for refusing them to a role that is not a superuser
_ROLE_REFUSAL = re.compile(
    r'role ".*" does not exist|must be able to SET ROLE|must be member of role|'
    r"permission denied|must be owner of|must have admin option",
)
# roles and tablespaces (the globals script): what such a role may not create or change
_GLOBALS_STATEMENT = re.compile(
    r"^\s*(CREATE|ALTER|COMMENT\s+ON|SECURITY\s+LABEL\s+ON)\s+(ROLE|TABLESPACE)\s|^\s*(GRANT|REVOKE)\s",
    re.IGNORECASE,
)
_GLOBALS_REFUSAL = re.compile(
    r"permission denied|must be superuser|must have|does not exist|already exists"
)
_PSQL_ERROR = re.compile(r"^psql:[^:]*:(\d+): ERROR:\s+(.*)$")
_RESTORE_ERROR = "pg_restore: error: "
_QUERY_FAILED = "could not execute query: ERROR:"


@dataclass(frozen=True)
class Failure:
    reason: str
    statement: str = ""  # empty when pg_restore did not say which command failed
    line: str = ""  # the error line as the program printed it

    def shown(self) -> str:
        first = self.statement.strip().splitlines()[0].rstrip(";") if self.statement.strip() else ""
        return f"{first}: {self.reason}" if first else self.reason


def pg_restore_failures(lines: Iterable[str]) -> list[Failure]:
    """Each error pg_restore printed, with the command it names (`Command was: ...`)."""
    failures: list[Failure] = []
    reason: str | None = None
    command: list[str] = []
    in_command = False

    def close() -> None:
        nonlocal reason, command, in_command
        if reason is not None:
            failures.append(Failure(reason, "\n".join(command)))
        reason, command, in_command = None, [], False

    for line in lines:
        if line.startswith(_RESTORE_ERROR):
            close()
            text = line[len(_RESTORE_ERROR) :].strip()
            reason = text.split(_QUERY_FAILED, 1)[1].strip() if _QUERY_FAILED in text else text
        elif line.startswith("Command was: ") and reason is not None:
            in_command = True
            command.append(line[len("Command was: ") :])
        elif in_command and line.strip() and not line.startswith("pg_restore: "):
            command.append(line)
        elif line.startswith("pg_restore: ") or not line.strip():
            in_command = False
    close()
    return failures


def is_refused_grant(failure: Failure) -> bool:
    return bool(_GRANT_LIKE.match(failure.statement) and _ROLE_REFUSAL.search(failure.reason))


def judge_restore(lines: list[str], what: str, returncode: int | None) -> list[str]:
    """The refused ownership and privilege statements of a pg_restore run that exited non-zero,
    or ProcessError naming the first other error."""
    failures = pg_restore_failures(lines)
    fatal = [f for f in failures if not is_refused_grant(f)]
    if fatal or not failures or (returncode is not None and returncode < 0):
        shown = fatal[0].shown() if fatal else (lines[-1] if lines else "no error output")
        raise ProcessError(
            f"{what}: pg_restore failed (exit {returncode}): {shown}",
            returncode=returncode,
            stderr_tail="\n".join(lines[-20:]),
        )
    return [f.shown() for f in failures]


def globals_failures(stderr: str, script: str) -> list[Failure]:
    """psql's errors on the globals script, each with the statement on the line it names."""
    lines = script.splitlines()
    failures = []
    for line in stderr.splitlines():
        if "ERROR:" not in line:
            continue
        match = _PSQL_ERROR.match(line)
        number = int(match.group(1)) if match else 0
        statement = lines[number - 1] if 0 < number <= len(lines) else ""
        reason = line.split("ERROR:", 1)[1].strip()
        failures.append(Failure(reason, statement, line.strip()))
    return failures


def is_refused_global(failure: Failure) -> bool:
    """A role or tablespace statement the restoring role may not run (not a superuser)."""
    return bool(
        _GLOBALS_STATEMENT.match(failure.statement) and _GLOBALS_REFUSAL.search(failure.reason)
    )
