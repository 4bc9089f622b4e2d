"""The settings sweep's parts: how a value reaches pgback (a source), what `pgback config`
must then show, and the checks every outcome must pass.

Sources are read off each KeySpec (its variable, aliases, flag, secrecy, whether it is a
server-level key), never from a list of key names: a new key is swept as it is declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import strategies as st

from pgback.config import KeySpec
from pgback.config.servers import SERVER_KEYS

from . import values as v
from .inprocess import TRACEBACK, Outcome

SERVER = "db1"  # the [[servers]] table a server-level value is given in


@dataclass(frozen=True)
class Given:
    """A value on its way to pgback: the arguments, variables and files that carry it, and
    how pgback must say where it came from."""

    source: str  # env, alias, env_file, file, flag, secret_flag, server
    raw: Any  # what was given (text, TOML value, file bytes, a flag form)
    argv: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # name in the case's dir -> bytes
    label: str = ""  # the FROM column of `pgback config`
    # words that name the key or its source in an error (a flag, a variable, a table)
    names_key: tuple[str, ...] = ()
    names_source: tuple[str, ...] = ()
    row: str = ""  # the `pgback config` row showing it


def sources_for(spec: KeySpec) -> list[str]:
    found = ["env", "file"]
    found += ["alias"] if spec.aliases else []
    found += ["env_file", "secret_flag"] if spec.secret else ["flag"]
    found += ["server"] if spec.name in SERVER_KEYS else []
    return found


def given(spec: KeySpec, source: str, draw: v.Drawer, case_dir: Path, identity: str) -> Given:
    """Draw one value for the key and the way it is given."""
    text = v.for_argv(v.setting_text(spec, identity))
    if source in ("env", "alias"):
        name = spec.env if source == "env" else draw(st.sampled_from(spec.aliases))
        raw = draw(text)
        return Given(
            source,
            raw,
            env={name: raw},
            label=f"env {name}",
            names_key=(spec.name, name),
            names_source=(f"env {name}", name),
            row=spec.name,
        )
    if source == "env_file":
        raw = draw(v.file_bytes(spec, identity))
        name = f"{spec.env}_FILE"
        path = case_dir / "secret"
        return Given(
            source,
            raw,
            env={name: str(path)},
            files={"secret": raw},
            label=f"env {name}",
            names_key=(spec.name, name),
            names_source=(f"env {name}", name),
            row=spec.name,
        )
    if source == "file":
        raw = draw(v.toml_values(spec, identity))
        path = case_dir / "pgback.toml"
        how = draw(st.sampled_from(["flag", "env"]))
        return Given(
            source,
            raw,
            argv=("--config", str(path)) if how == "flag" else (),
            env={"PGBACK_CONFIG": str(path)} if how == "env" else {},
            files={"pgback.toml": tomli_w.dumps({spec.name: raw}).encode()},
            label=f"file {path}",
            names_key=(spec.name,),
            names_source=(f"file {path}",),
            row=spec.name,
        )
    if source == "server":
        key = f"{spec.name}_file" if spec.secret and draw(st.booleans()) else spec.name
        path = case_dir / "pgback.toml"
        if key.endswith("_file"):
            raw = draw(v.file_bytes(spec, identity))
            value: Any = str(case_dir / "secret")
            files = {"secret": raw}
        else:
            raw = value = draw(v.toml_values(spec, identity))
            files = {}
        table = {"servers": [{"name": SERVER, key: value}]}
        files["pgback.toml"] = tomli_w.dumps(table).encode()
        return Given(
            source,
            raw,
            argv=("--config", str(path)),
            files=files,
            label=f"file {path} [[servers]] '{SERVER}'",
            names_key=(spec.name, key),
            names_source=(f"[[servers]] '{SERVER}'",),
            row=f"servers.{SERVER}.{spec.name}",
        )
    if source == "secret_flag":
        raw = draw(text)
        return Given(
            source,
            raw,
            argv=(spec.flag, raw),
            label="flag",
            names_key=(spec.flag,),
            names_source=(spec.flag,),
            row=spec.name,
        )
    # a flag: `--key VALUE`, `--key=VALUE`; booleans also bare, negated, or wrongly given one
    if spec.is_bool:
        negative = "--" + spec.name.removeprefix("no_").replace("_", "-")
        other = negative if spec.name.startswith("no_") else f"--no-{spec.flag[2:]}"
        raw = draw(text)
        forms = [(spec.flag,), (other,), (f"{spec.flag}={raw}",), (spec.flag, raw)]
        argv = draw(st.sampled_from(forms))
        flags: tuple[str, ...] = (spec.flag, other)
    else:
        raw = draw(text)
        argv = draw(st.sampled_from([(spec.flag, raw), (f"{spec.flag}={raw}",)]))
        flags = (spec.flag,)
    return Given(
        source,
        raw,
        argv=argv,
        label="flag",
        names_key=(spec.name, *flags),
        names_source=("(flag)", "from flag", *flags),
        row=spec.name,
    )


def bool_from_flag(spec: KeySpec, item: Given) -> bool | None:
    """What a boolean flag form means, or None when it is not a valid form."""
    if len(item.argv) != 1 or "=" in item.argv[0]:
        return None
    # `--encrypt` and `--no-role-passwords` set their key; `--no-encrypt`, `--role-passwords`
    # clear it
    return item.argv[0] == spec.flag


# --- `pgback config`'s table ---------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    value: str
    source: str


def config_rows(stdout: str) -> dict[str, Row]:
    """KEY -> (VALUE, FROM), cut at the header's column positions (values may hold spaces)."""
    lines = stdout.splitlines()
    header = lines[0]
    at_value, at_from = header.index("VALUE"), header.index("FROM")
    rows = {}
    for line in lines[1:]:
        key = line[:at_value].strip()
        rows[key] = Row(line[at_value:at_from].rstrip(), line[at_from:].strip())
    return rows


# --- what `pgback config` must show for an accepted value ----------------------------------

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _text(raw: Any) -> str:
    if isinstance(raw, bytes):  # a secret's file: its text, without the final line break
        return raw.decode("utf-8").rstrip("\r\n")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise AssertionError(f"accepted a value of type {type(raw).__name__}: {raw!r}")
    return str(raw)


def _seconds(text: str) -> float | None:
    text = text.strip().lower()
    if text in ("", "none", "never", "off"):
        return None
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        return float(text) * 86400
    assert _DURATION_PART.sub("", text) == "", f"accepted duration {text!r}"
    return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))


def expected_value(spec: KeySpec, item: Given) -> str | None:
    """The documented normalisation of what was given (docs/configuration.md): text is
    trimmed (secrets are not, and show as ***), lists are comma-separated and trimmed,
    booleans, integers and durations are shown as values (durations in seconds), choices in
    lower case. None for a parser kind this suite does not know (only the round trip and
    the invariants then apply)."""
    kind, raw = v.kind_of(spec), item.raw
    if spec.is_bool and item.source == "flag":
        meant = bool_from_flag(spec, item)
        assert meant is not None, f"accepted the flag form {item.argv}"
        return str(meant)
    if spec.secret:
        return "***" if _text(raw) else ""
    if kind == "as_bool":
        if isinstance(raw, bool):
            return str(raw)
        text = _text(raw).strip().lower()
        assert text in _TRUE | _FALSE, f"accepted boolean {raw!r}"
        return str(text in _TRUE)
    if kind == "as_list":
        items = raw if isinstance(raw, list) else _text(raw).split(",")
        return ",".join(str(i).strip() for i in items if str(i).strip())
    if kind in ("as_str", "as_opt_str"):
        return _text(raw).strip()
    if kind == "choice":
        return _text(raw).strip().lower()
    if kind in (
        "as_int",
        "as_positive",
        "as_level",
        "as_part_size",
        "as_opt_int",
        "as_port",
        "as_min_keep",
    ):
        text = _text(raw).strip()
        if kind == "as_min_keep" and text.lower() == "all":
            return "all"
        if text == "" and kind in ("as_opt_int", "as_port"):
            return ""
        return str(int(text))
    if kind in ("as_duration", "as_duration_opt", "as_mark_age"):
        seconds = _seconds(_text(raw))
        return "" if seconds is None else f"{int(seconds)}s"
    return None


def printable(text: str) -> str:
    """How `pgback config` shows control and invisible characters (docs/configuration.md)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def invariants(spec: KeySpec, shown: str) -> None:
    """What no accepted value may show, whatever its kind."""
    kind = v.kind_of(spec)
    if kind in ("as_positive", "as_level", "as_part_size", "as_opt_int", "as_port"):
        assert shown == "" or (shown.isdigit() and int(shown) >= 1), shown
    if kind == "as_min_keep":
        assert shown == "all" or shown.isdigit(), shown
    if kind == "as_port" and shown:
        assert 1 <= int(shown) <= 65535, shown
    if kind == "choice":
        assert shown in v.choices_of(spec), shown
    if kind in ("as_duration", "as_duration_opt", "as_mark_age") and shown:
        assert 0 < int(shown[:-1]) <= 36525 * 86400, shown
    assert shown == printable(shown), f"unescaped control character in {shown!r}"


# --- every outcome -----------------------------------------------------------------------


def assert_clean(outcome: Outcome, canaries: list[str]) -> None:
    """No traceback, no internal error, no stray stderr, no secret anywhere; a known exit
    code; a failure is one error (one line, or the list of configuration problems)."""
    text = outcome.stdout + outcome.stderr
    assert TRACEBACK not in text, outcome.describe()
    assert "internal error" not in text, outcome.describe()
    for canary in canaries:
        for piece in (canary, canary[len(canary) // 2 - 6 : len(canary) // 2 + 6]):
            assert piece not in text, f"a secret in the output:\n{outcome.describe()}"
    assert outcome.other_stderr == [], outcome.describe()
    assert outcome.code in (0, 1, 2, 3, 4, 5, 6, 7, 8), outcome.describe()
    if outcome.code != 0:
        assert len(outcome.error_lines) == 1, outcome.describe()
    else:
        assert outcome.error_lines == [], outcome.describe()


def assert_names(problem: str, item: Given, outcome: Outcome) -> None:
    """A problem about the value names the key and where it was set."""
    assert any(word in problem for word in item.names_key), (
        f"the error does not name the key ({item.names_key}): {problem!r}\n{outcome.describe()}"
    )
    assert any(word in problem for word in item.names_source), (
        f"the error does not say where the value came from ({item.names_source}): "
        f"{problem!r}\n{outcome.describe()}"
    )


Run = Callable[[list[str], dict[str, str]], Outcome]
