"""`pgback doctor`: for the configured server, which client tools backup and restore will run,
and why, with every install found.

A command of its own rather than part of `pgback config`: choosing the tools needs the server's
version, so it connects, while `config` only prints settings and works with the server down.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgback.actions.context import conn_params
from pgback.adapters import pgclients
from pgback.adapters.postgres import server_version
from pgback.config import Settings
from pgback.errors import ProcessError


@dataclass(frozen=True)
class DoctorReport:
    server: str  # where, as whom
    server_version: str
    searched: str
    found: tuple[pgclients.ClientInstall, ...]
    backup: pgclients.Choice | None
    restore: pgclients.Choice | None
    problem: ProcessError | None  # why backup cannot run, if it cannot

    def render(self) -> str:
        lines = [
            f"server: {self.server}: PostgreSQL {self.server_version}",
            f"client tools searched {self.searched}:",
        ]
        for install in self.found or ():
            programs = [
                p
                for p in (*pgclients.DUMP_PROGRAMS, *pgclients.RESTORE_PROGRAMS)
                if install.has([p])
            ]
            lines.append(f"  {install.describe()}: {' '.join(programs) or 'no client programs'}")
        if not self.found:
            lines.append("  none")
        if self.backup is not None:
            lines.append(f"backup uses {self.backup.install.describe()}: {self.backup.reason}")
        if self.restore is not None:
            lines.append(
                f"restore of a set made now, into this server, uses "
                f"{self.restore.install.describe()}: {self.restore.reason}"
            )
        return "\n".join(lines) + "\n"


def run_doctor(settings: Settings) -> DoctorReport:
    params = conn_params(settings)
    version = server_version(params)
    found = tuple(pgclients.discover(settings.pg_bin_dir))
    searched = pgclients.searched(settings.pg_bin_dir)
    backup: pgclients.Choice | None = None
    restore: pgclients.Choice | None = None
    problem: ProcessError | None = None
    try:
        backup = pgclients.choose_for_server(version, found, searched=searched)
        restore = pgclients.choose_for_archive(
            backup.install.version, version, found, searched=searched
        )
    except ProcessError as exc:
        problem = exc
    return DoctorReport(
        server=params.describe(),
        server_version=version,
        searched=searched,
        found=found,
        backup=backup,
        restore=restore,
        problem=problem,
    )
