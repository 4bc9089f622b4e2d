"""What a backup role may read, decided before the dump starts; what the manifest records.

On managed PostgreSQL (RDS, Cloud SQL, Azure, Supabase, Neon) the backup role owns its databases
but is no superuser: `pg_authid` (the role passwords) is unreadable, so `pg_dumpall
--globals-only` fails unless it is told `--no-role-passwords`, and databases it may not connect
to would fail their pg_dump. Both are found out here, and each becomes one warning recorded in
the manifest, instead of a failed backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgback.adapters.postgres import SourceFacts
from pgback.config import Settings


@dataclass(frozen=True)
class Access:
    databases: list[str]  # the databases to dump, those the role may not connect to left out
    no_role_passwords: bool  # pass --no-role-passwords to pg_dumpall
    warnings: list[str]


def check_access(settings: Settings, facts: SourceFacts, databases: list[str]) -> Access:
    warnings: list[str] = []
    rights = facts.rights
    no_role_passwords = settings.no_role_passwords
    if not no_role_passwords and not rights.read_authid:
        no_role_passwords = True
        warnings.append(
            "cannot read role passwords (pg_authid needs superuser): globals dumped without "
            "them (--no-role-passwords); set no_role_passwords = true to silence this"
        )
    chosen = databases
    if not settings.include_dbs:
        # every database was asked for: those the role may not enter are not its to back up.
        # Databases named in include_dbs stay, so that refusing one is an error, not a skip.
        skipped = [db for db in databases if db in facts.refused]
        if skipped:
            chosen = [db for db in databases if db not in facts.refused]
            warnings.append(
                f"skipped {len(skipped)} database(s) this role may not connect to (no CONNECT "
                f"privilege): {', '.join(map(repr, skipped))}"
            )
    return Access(chosen, no_role_passwords, warnings)


def recorded_options(settings: Settings) -> dict[str, Any]:
    """The options a set was made with, as its manifest records them."""
    return {
        "upload_prefix": settings.upload_prefix,
        "jobs": settings.jobs,
        "include_dbs": list(settings.include_dbs),
        "exclude_dbs": list(settings.exclude_dbs),
        "with_templates": settings.with_templates,
        "no_role_passwords": settings.no_role_passwords,
        "compress": settings.compress,
        "compress_level": settings.compress_level,
        "pg_dump_options": list(settings.pg_dump_options),
        "databases": {
            name: {"pg_dump_options": options.dump_args(settings.pg_dump_options)}
            for name, options in settings.databases.items()
        },
    }
