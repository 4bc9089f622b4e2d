"""Every command's own arguments, read off pgback's argparse parser, and what to give each.

The arguments come from `pgback.cli.build_parser()`: a new command or argument is swept as
soon as it is added. Settings flags (`cfg_*`) are the settings sweep's; `--help` and the
top-level `--debug` (which shows tracebacks on purpose) and `run-scenario` (the scenario
harness's, with its own parser) are left out. An argument this module knows by name gets
values of its meaning (set ids, directories, conninfos, database lists, server names); any
other gets values of its argparse shape (a flag's forms, an int, a choice) and generic text.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from hypothesis import strategies as st

from pgback.cli import build_parser

from . import values as v
from .bed import DATABASES, PREFIX, SERVERS, Bed

HARNESS_COMMANDS = ("run-scenario",)
LEFT_OUT = ("help",)


@dataclass(frozen=True)
class Argument:
    command: str
    action: argparse.Action

    @property
    def name(self) -> str:
        return self.action.option_strings[-1] if self.action.option_strings else self.action.dest

    @property
    def id(self) -> str:
        return f"{self.command} {self.name}"


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {
                name: sub for name, sub in action.choices.items() if name not in HARNESS_COMMANDS
            }
    raise AssertionError("pgback's parser has no commands")


def arguments() -> list[Argument]:
    """(command, argument) for every command's own arguments."""
    return [
        Argument(name, action)
        for name, sub in commands().items()
        for action in sub._actions
        if not action.dest.startswith("cfg_") and action.dest not in LEFT_OUT
    ]


# --- values, by meaning --------------------------------------------------------------------

Case = Callable[[Path], list[str]]  # the case's directory -> the argument's words


def _option(argument: Argument, values: st.SearchStrategy[str]) -> st.SearchStrategy[Case]:
    """`--opt VALUE` or `--opt=VALUE` (a positional: the value alone)."""
    if not argument.action.option_strings:
        return values.map(lambda value: lambda _dir: [value])
    flag = argument.name
    return st.tuples(values, st.booleans()).map(
        lambda pair: lambda _dir: [f"{flag}={pair[0]}"] if pair[1] else [flag, pair[0]]
    )


def set_refs(bed: Bed) -> st.SearchStrategy[str]:
    good = bed.set_id
    return st.one_of(
        st.sampled_from(
            [
                "latest",
                good,
                bed.server_set_id,
                "LATEST",
                "latest ",
                " latest",
                "20250101T000000Z",
                "20251301T000000Z",
                "20250101T000000",
                "20250101t000000z",
                good + "/",
                "../" + good,
                f"{PREFIX}/{good}",
                good[:-1],
                good + "Z",
                "99999999T999999Z",
                "-" + good,
                good.replace("2", "٢"),
                good + "\n",
                "",
            ]
        ),
        v.for_argv(v.text_values()),
    )


def _segment(text: str) -> str:
    """A path segment from any text: no `/`, not `.` or `..`, at most 300 characters (a
    name too long for the file system is one of the cases)."""
    segment = text.replace("/", "_")[:300]
    return segment if segment not in ("", ".", "..") else "x" + segment


def dest_paths() -> st.SearchStrategy[Case]:
    """Where `download` writes: read-only or odd places, and new directories under the
    case's directory only (never an absolute directory pgback could create or fill)."""
    probes = st.sampled_from(["/etc/passwd", "/dev/null", "/proc/1", "", "a-file", "a-full-dir"])

    def probe(name: str) -> Case:
        def make(case_dir: Path) -> list[str]:
            if name == "a-file":
                (case_dir / name).write_text("not a directory\n")
            if name == "a-full-dir":
                (case_dir / name).mkdir(exist_ok=True)
                (case_dir / name / "manifest.json").write_text("{}")
            return [name]

        return make

    relative = st.lists(v.for_argv(v.text_values()).map(_segment), min_size=1, max_size=3).map(
        lambda parts: lambda _dir: ["/".join(parts)]
    )
    return st.one_of(probes.map(probe), relative)


def conninfos(bed: Bed) -> st.SearchStrategy[str]:
    """--target: junk, key=value strings of libpq's keys with odd values, URLs; hosts only on
    this machine (bed.reaches_outside filters the rest)."""
    t = bed.target
    hosts = st.sampled_from(
        [t.host, "localhost", "127.0.0.1", "::1", "/tmp", "nonexistent.invalid", ""]
    )
    ports = st.sampled_from([str(t.port), "1", "0", "65536", "abc", "5432,5433", "-1", ""])
    junk = v.for_argv(v.text_values())
    word = st.one_of(junk, st.sampled_from(["postgres", "small", "odd name ü", f"pw-{v.CANARY}"]))

    def quoted(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    pair = st.one_of(
        st.tuples(st.just("host"), hosts),
        st.tuples(st.just("port"), ports),
        st.tuples(st.just("hostaddr"), st.sampled_from(["127.0.0.1", "::1", "not-an-ip", ""])),
        st.tuples(
            st.sampled_from(
                [
                    "user",
                    "dbname",
                    "password",
                    "options",
                    "application_name",
                    "sslmode",
                    "service",
                    "passfile",
                    "target_session_attrs",
                    "gssencmode",
                    "connect_timeout",
                    "nonsense",
                    "sslkey",
                ]
            ),
            word,
        ),
    ).map(lambda kv: f"{kv[0]}={quoted(kv[1])}")
    keyvalue = st.lists(pair, min_size=1, max_size=4).map(
        lambda pairs: " ".join(pairs) + " connect_timeout=3"
    )
    good = st.just(f"host={t.host} port={t.port} user={t.user} connect_timeout=3")
    url = st.tuples(word, hosts, ports, word).map(
        lambda p: f"postgresql://{p[0]}@{p[1]}:{p[2]}/{p[3]}?connect_timeout=3"
    )
    return st.one_of(keyvalue, good, url, junk)


def database_lists() -> st.SearchStrategy[str]:
    names = st.one_of(
        st.sampled_from([*DATABASES, "postgres", "SMALL", " small", "template0", ""]),
        v.for_argv(v.text_values()),
    )
    return st.lists(names, min_size=1, max_size=3).map(",".join)


def server_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([*SERVERS, "db3", "", "DB1", "db1 ", "db1,db2"]),
        v.for_argv(v.text_values()),
    )


def config_files(bed: Bed) -> st.SearchStrategy[Case]:
    """--config: odd paths, files that are no TOML, and settings files with junk in them."""
    paths = st.sampled_from(
        [
            "/dev/null",
            "/dev/zero",
            "/etc/passwd",
            "/proc/self/status",
            "/",
            "nonexistent.toml",
            "",
            ".",
        ]
    )
    contents = st.one_of(
        v.text_values().filter(v._valid_utf8).map(str.encode),
        st.binary(max_size=64),
        st.dictionaries(
            st.sampled_from(["servers", "jobs", "nonsense", "s3_bucket"]),
            st.one_of(
                st.just([{"name": s} for s in SERVERS]),
                st.lists(
                    st.dictionaries(
                        st.sampled_from(["name", "host", "port"]),
                        st.one_of(v.for_toml(v.text_values()), st.integers()),
                        max_size=3,
                    ),
                    max_size=3,
                ),
                v.for_toml(v.text_values()),
                st.integers(),
            ),
            max_size=2,
        ).map(lambda d: tomli_w.dumps(d).encode()),
        st.just(bed.servers_config.read_bytes()),
    )

    def written(data: bytes) -> Case:
        def make(case_dir: Path) -> list[str]:
            (case_dir / "given.toml").write_bytes(data)
            return [str(case_dir / "given.toml")]

        return make

    return st.one_of(paths.map(lambda p: lambda _dir: [p]), contents.map(written))


def flag_forms(argument: Argument) -> st.SearchStrategy[Case]:
    flag = argument.name
    forms = [[flag], [flag, flag], [f"{flag}=yes"], [f"{flag}="], [flag, "extra"]]
    return st.sampled_from(forms).map(lambda words: lambda _dir: list(words))


def values_for(argument: Argument, bed: Bed) -> st.SearchStrategy[Case]:
    """The words to give one argument."""
    action, dest = argument.action, argument.action.dest
    if action.nargs == 0:
        return flag_forms(argument)
    if dest == "config":
        return config_files(bed).map(lambda make: lambda d: ["--config", *make(d)])
    if dest == "dest":
        return dest_paths().map(lambda make: lambda d: ["--dest", *make(d)])
    known: dict[str, st.SearchStrategy[str]] = {
        "set": set_refs(bed),
        "target": conninfos(bed),
        "databases": database_lists(),
        "server": server_names(),
    }
    if dest in known:
        return _option(argument, known[dest])
    generic = v.for_argv(v.text_values())
    if action.type is int or "jobs" in dest:
        generic = st.one_of(st.sampled_from(v.NUMBERS), generic)
    if action.choices:
        generic = st.one_of(st.sampled_from([str(c) for c in action.choices]), generic)
    return _option(argument, generic)


def base_words(command: str, bed: Bed, case_dir: Path, leave_out: str) -> list[str]:
    """Good values for the command's required arguments (and restore's target), but the one
    under test."""
    words: list[str] = []
    for action in commands()[command]._actions:
        if action.dest == leave_out or action.dest.startswith("cfg_"):
            continue
        if action.dest == "set":
            words.append(bed.set_id)
        elif action.dest == "dest":
            words += ["--dest", str(case_dir / "download")]
        elif action.dest == "target":
            words += ["--target", bed.target.dsn()]
        elif action.required:
            words += ([action.option_strings[-1]] if action.option_strings else []) + ["x"]
    return words
