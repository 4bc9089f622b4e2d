"""What the commands check only when they start, checked at once for `pgback config`: the
storage backend's own settings (a bucket name or region boto3 would refuse), and, as notes,
what one command or another would refuse in settings that are fine for the others."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgback.actions.serve import check_serve_settings
from pgback.config import Settings
from pgback.errors import ConfigError
from pgback.storage import settings_problems


@dataclass(frozen=True)
class Preflight:
    problems: list[str] = field(default_factory=list)  # every command using them would refuse
    notes: list[str] = field(default_factory=list)  # some command would


def preflight(settings: Settings) -> Preflight:
    problems: list[str] = []
    notes: list[str] = []
    if settings.repository or settings.s3_bucket:
        problems += settings_problems(settings)
    else:
        notes.append(
            "no storage is set (s3_bucket or repository): backup, list, show, purge, download, "
            "restore and verify would refuse"
        )
    try:
        check_serve_settings(settings)
    except ConfigError as exc:
        notes += [f"serve would refuse: {problem}" for problem in exc.problems]
    return Preflight(problems, notes)
