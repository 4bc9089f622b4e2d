"""Choosing client tools per server: discovery over chosen roots holding real programs.

The roots are temporary directories laid out like Debian's and RHEL's, with links to the real
client programs of the majors this machine has (no fakes: each `--version` really runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.adapters import pgclients
from pgback.adapters.pgclients import Locations
from pgback.errors import ProcessError
from pgback.testbed.majors import server_installs

PROGRAMS = ("pg_dump", "pg_dumpall", "pg_restore", "psql")


def _majors_or_skip(*wanted: int) -> dict[int, Path]:
    installs = server_installs()
    missing = [m for m in wanted if m not in installs]
    if missing:
        pytest.skip(f"needs PostgreSQL client majors {missing} (see docs/compatibility.md)")
    return {m: installs[m].bindir for m in wanted}


def _link_install(bindir: Path, source: Path, programs: tuple[str, ...] = PROGRAMS) -> None:
    bindir.mkdir(parents=True)
    for name in programs:
        (bindir / name).symlink_to(source / name)


def _debian_root(tmp_path: Path, majors: dict[int, Path]) -> Locations:
    root = tmp_path / "usr-lib-postgresql"
    for major, source in majors.items():
        _link_install(root / str(major) / "bin", source)
    return Locations(debian=root, rhel=None, homebrew=(), path="", wheels=())


def test_discover_roots_finds_each_major_with_its_version(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 18)
    found = pgclients.discover(None, _debian_root(tmp_path, majors))
    assert sorted(i.major for i in found) == [15, 18]
    assert all(i.source == "Debian" for i in found)
    assert {i.major: i.bindir.parent.name for i in found} == {15: "15", 18: "18"}


def test_discover_pg_bin_dir_set_looks_only_there(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 18)
    found = pgclients.discover(str(majors[15]), _debian_root(tmp_path, majors))
    assert [(i.major, i.source) for i in found] == [(15, "pg_bin_dir")]


def test_discover_rhel_and_homebrew_layouts_are_found(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 18)
    _link_install(tmp_path / "usr" / "pgsql-15" / "bin", majors[15])
    _link_install(tmp_path / "brew" / "postgresql@18" / "bin", majors[18])
    where = Locations(debian=None, rhel=tmp_path / "usr", homebrew=(tmp_path / "brew",), wheels=())
    found = pgclients.discover(None, where)
    assert [(i.major, i.source) for i in found] == [(15, "RHEL"), (18, "Homebrew")]


def test_choose_for_server_same_major_is_preferred(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 18)
    found = pgclients.discover(None, _debian_root(tmp_path, majors))
    assert pgclients.choose_for_server("15.4", found).install.major == 15
    assert pgclients.choose_for_server("18.1", found).install.major == 18


def test_choose_for_server_without_its_major_takes_the_oldest_newer(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 16, 18)
    found = pgclients.discover(None, _debian_root(tmp_path, {16: majors[16], 18: majors[18]}))
    choice = pgclients.choose_for_server("15.18", found)
    assert choice.install.major == 16
    assert "oldest newer" in choice.reason


def test_choose_for_server_newer_than_every_client_names_each_and_what_to_install(
    tmp_path: Path,
) -> None:
    majors = _majors_or_skip(15, 16)
    found = pgclients.discover(None, _debian_root(tmp_path, majors))
    with pytest.raises(ProcessError) as raised:
        pgclients.choose_for_server("18.6", found, searched="in the test roots")
    message = str(raised.value)
    assert raised.value.exit_code == 5
    assert "\n" not in message
    assert "PostgreSQL 18.6 server" in message
    assert "15 (15." in message and "16 (16." in message
    assert str(tmp_path) in message  # where each one was found
    assert "postgresql-client-18" in message


def test_choose_for_server_ignores_an_install_lacking_pg_dumpall(tmp_path: Path) -> None:
    majors = _majors_or_skip(15, 18)
    root = tmp_path / "debian"
    _link_install(root / "15" / "bin", majors[15], ("pg_dump", "pg_restore", "psql"))
    _link_install(root / "18" / "bin", majors[18])
    found = pgclients.discover(None, Locations(debian=root, rhel=None, homebrew=(), wheels=()))
    assert pgclients.choose_for_server("15.2", found).install.major == 18


def test_choose_for_archive_prefers_the_target_major_when_it_reads_the_archive(
    tmp_path: Path,
) -> None:
    majors = _majors_or_skip(15, 16, 18)
    found = pgclients.discover(None, _debian_root(tmp_path, majors))
    # an archive of pg_dump 15 restored into a 16 server: 16's tools
    assert pgclients.choose_for_archive("15.18", "16.2", found).install.major == 16
    # an archive of pg_dump 18 restored into a 15 server: only 18's pg_restore reads it
    assert pgclients.choose_for_archive("18.6", "15.18", found).install.major == 18
    # verify (no target): the archive's own major
    assert pgclients.choose_for_archive("16.2", None, found).install.major == 16


def test_choose_for_archive_newer_than_every_client_exits_5(tmp_path: Path) -> None:
    majors = _majors_or_skip(15)
    found = pgclients.discover(None, _debian_root(tmp_path, majors))
    with pytest.raises(ProcessError, match=r"archive of pg_dump 18\.6.*major 18 or newer"):
        pgclients.choose_for_archive("18.6", "18.6", found)


def test_choose_for_server_client_older_than_the_server_minor_says_so(
    tmp_path: Path,
) -> None:
    majors = _majors_or_skip(15, 18)
    # a client older than the server's minor release says so
    _link_install(tmp_path / "debian" / "15" / "bin", majors[15])
    found = pgclients.discover(
        None, Locations(debian=tmp_path / "debian", rhel=None, homebrew=(), wheels=())
    )
    minor = int(found[0].version.split(".")[1])
    older = pgclients.choose_for_server(f"15.{minor + 2}", found)
    assert "older than the server's" in older.reason
    same = pgclients.choose_for_server(f"15.{minor}", found)
    assert "older" not in same.reason
