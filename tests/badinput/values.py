"""What a user might type for a setting or an argument: Hypothesis strategies.

Nothing here names a setting. Values are chosen by the *kind* of a key's parser (read off
`KeySpec.parse`), so a new key gets the values of its kind, and a key with a parser of a new
kind still gets every generic one. The pools hold what users get wrong in practice: wrong
types, out-of-range and huge numbers, empty and blank text, control characters, unicode
(right-to-left marks, other scripts' digits, combining accents), shell metacharacters, values
that look like flags, and the near misses of each kind (durations without units, zones that do
not exist, URLs without a host, cron lines with a field too many).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from pgback.config import KeySpec

# a distinctive core in every generated secret: no output may ever contain it
CANARY = "CANARY" + secrets.token_hex(6).upper()

SHELL = [
    "$(id)",
    "`id`",
    "; rm -rf /tmp/x",
    "| cat",
    "&& true",
    "> out",
    "*",
    "?",
    "~",
    "$HOME",
    "${IFS}",
    "'",
    '"',
    "\\",
    "!",
    "#",
    "%s",
    "%n",
    "{}",
    "\\n",
    "&",
]
FLAG_LIKE = [
    "--help",
    "-h",
    "--version",
    "--debug",
    "-",
    "--",
    "-x",
    "--password",
    "--dest=/",
    "--no-encrypt",
]
CONTROL = ["\t", "\n", "\r", "\x1b[31m", "\x07", "\x7f", "\x0b", "\x0c", "\r\n"]
UNICODE = [
    "é",
    "データ",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\u00a0",
    "🐘",
    "e\u0301",
    "\uff11\uff12",  # fullwidth 12
    "٣",
    "ß",
    "İ",
    "\u200b",
    "Ω",
]
BLANK = ["", " ", "  ", "\t", " \n "]
NUMBERS = [
    "0",
    "-1",
    "1",
    "+1",
    "007",
    "1_000",
    "1e3",
    "1.5",
    "inf",
    "nan",
    "-0",
    " 3 ",
    "٣",
    "0x10",
    "2**31",
    "9" * 19,
    "9" * 40,
    "4294967296",
    "65535",
    "65536",
    "22",
    "23",
    "5",
    "4",
    "5120",
    "5121",
    "all",
    "ALL",
    "none",
]
DURATIONS = [
    "0",
    "0s",
    "1s",
    "2s",
    "3s",
    "60s",
    "1.5h",
    "-5m",
    "30d",
    "2w",
    "1h30m",
    "36525d",
    "36526d",
    "99999999999999d",
    "1e400s",
    "never",
    "off",
    "none",
    "10 parsecs",
    "5 m",
    "1H",
    "3",
    "0.5",
]
BOOLS = [
    "true",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "1",
    "0",
    "TRUE",
    "T",
    "y",
    "N",
    "maybe",
    "2",
    "enabled",
]
URLS = [
    "http://",
    "https://",
    "https://example.invalid/x",
    "http://127.0.0.1:1",
    "ftp://example.invalid",
    "s3://bucket/prefix",
    "s3://bucket",
    "s3://",
    "s3:///x",
    "file:///",
    "file:///nonexistent/dir",
    "file://host/x",
    "file:relative",
    "http://[::1]:99999",
    "http://exa mple.invalid",
    "localhost:9000",
    "127.0.0.1:1",
    "http://127.0.0.1:65536",
    "http://user:pw@127.0.0.1:1/",
    "https://example.invalid:x",
    "http://[::1",
    "mailto:x@example.invalid",
    "s3://Bucket_With.Odd-Name/p",
    "s3://b/" + "p" * 300,
    "s3://bucket/pre%2Ffix",
    "s3://bucket/a?b",
    "s3://bucket/#x",
]
ZONES = [
    "UTC",
    "Europe/Paris",
    "Mars/Olympus",
    "America",
    "../../etc/passwd",
    "/etc/localtime",
    "right/UTC",
    "Factory",
    "utc",
    "UTC ",
    "Etc/GMT+5",
    "zone.tab",
    ".",
]
CRON = [
    "* * * * *",
    "0 2 * * *",
    "61 * * * *",
    "@daily",
    "* * *",
    "0 0 31 2 *",
    "*/0 * * * *",
    "0 0 * * * *",
    "@reboot",
    "0 2 * * MON-FRI",
]
LISTEN = [
    ":8080",
    "127.0.0.1:0",
    "localhost:٣",
    "localhost:²",
    "[::1]:9",
    "host",
    ":",
    "0.0.0.0:65536",
    "127.0.0.1:-1",
    "127.0.0.1:8080:9",
]
PATHS = [
    "/",
    "/nonexistent/x",
    "/etc/passwd",
    "/dev/null",
    "/dev/zero",
    "relative/dir",
    "~",
    ".",
    "..",
    "/proc/1/mem",
    "/tmp",
]
LISTS = ["a,b", ",,,", " a , b ", "a,,b", "a, a", "postgres", "my db,app", "a\nb"]
AGE = ["age1", "age1xyz", "AGE-SECRET-KEY-1", "AGE-SECRET-KEY-1XYZ", "ssh-ed25519 AAAA"]
NAMES = ["postgres", "db1", "a", "x" * 63, "x" * 64, "-a", "1a", "a.b", "a/b", "."]

POOL = [
    *SHELL,
    *FLAG_LIKE,
    *CONTROL,
    *UNICODE,
    *BLANK,
    *NUMBERS,
    *DURATIONS,
    *BOOLS,
    *URLS,
    *ZONES,
    *CRON,
    *LISTEN,
    *PATHS,
    *LISTS,
    *AGE,
    *NAMES,
]

# characters with no place in an environment variable or an argument (C strings)
NOT_IN_ARGV = "\x00"


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")


def _valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- text ----------------------------------------------------------------------------------

_random_text = st.text(alphabet=st.characters(codec=None, exclude_categories=("Cs",)), max_size=24)
_pooled = st.sampled_from(POOL)


def _joined(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(parts, min_size=2, max_size=4).map("".join)


def _huge(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # big, not slow: one piece repeated (100 kB at most)
    return st.tuples(parts.filter(bool), st.integers(500, 20_000)).map(
        lambda pair: (pair[0] * pair[1])[:100_000]
    )


def text_values(extra: list[str] | None = None) -> st.SearchStrategy[str]:
    """Any text a user might give: the pools, random unicode (control characters included),
    pieces joined, padded with blanks, repeated to a huge size."""
    pooled = st.sampled_from(POOL + (extra or [])) if extra else _pooled
    base = st.one_of(pooled, pooled, _random_text)
    return st.one_of(
        base,
        _joined(base),
        st.tuples(st.sampled_from(BLANK + CONTROL), base).map(lambda p: p[0] + p[1] + p[0]),
        _huge(base),
        # bytes that are not UTF-8, as an environment or argv delivers them (surrogateescape)
        st.binary(min_size=1, max_size=8).map(
            lambda b: (b"\xff" + b).decode("utf-8", "surrogateescape")
        ),
    )


def for_argv(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values an environment variable or a command-line argument can carry (no NUL)."""
    return values.map(_no_nul)


def for_toml(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values a TOML file can carry (valid UTF-8; NUL is fine, as the escape \\u0000)."""
    return values.filter(_valid_utf8)


# --- kinds of keys, from their parsers -----------------------------------------------------


def kind_of(spec: KeySpec) -> str:
    """The parser's kind: its function name (`as_bool`...), `choice` for choice(...)."""
    qualname = getattr(spec.parse, "__qualname__", "")
    if qualname.startswith("choice."):
        return "choice"
    return getattr(spec.parse, "__name__", "unknown")


def choices_of(spec: KeySpec) -> tuple[str, ...]:
    """A choice parser's allowed values (from its closure)."""
    for cell in getattr(spec.parse, "__closure__", None) or ():
        if isinstance(cell.cell_contents, tuple):
            return tuple(str(v) for v in cell.cell_contents)
    return ()


_KIND_POOLS: dict[str, list[str]] = {
    "as_bool": BOOLS,
    "as_int": NUMBERS,
    "as_positive": NUMBERS,
    "as_level": NUMBERS,
    "as_part_size": NUMBERS,
    "as_opt_int": NUMBERS,
    "as_min_keep": NUMBERS,
    "as_port": NUMBERS,
    "as_duration": DURATIONS,
    "as_duration_opt": DURATIONS,
    "as_mark_age": DURATIONS,
    "as_list": LISTS + AGE,
    "as_str": ZONES + PATHS + NAMES,
    "as_opt_str": URLS + ZONES + CRON + LISTEN + PATHS + NAMES,
}


def plausible(spec: KeySpec) -> list[str]:
    """The values of the key's kind, near misses included."""
    kind = kind_of(spec)
    if kind == "choice":
        allowed = list(choices_of(spec))
        return (
            allowed
            + [a.upper() for a in allowed]
            + [f" {a} " for a in allowed]
            + [a[:-1] for a in allowed]
        )
    return _KIND_POOLS.get(kind, [])


def setting_text(spec: KeySpec, identity: str) -> st.SearchStrategy[str]:
    """Text for a key as the environment or a flag gives it; a secret always holds CANARY
    (or is the test's own age identity), so the output can be searched for it."""
    kinded = st.sampled_from(plausible(spec)) if plausible(spec) else st.nothing()
    text = st.one_of(kinded, kinded, text_values())
    if not spec.secret:
        return text
    return st.one_of(
        st.tuples(st.sampled_from(["", *FLAG_LIKE, *SHELL, " ", "\n"]), text).map(
            lambda p: p[0] + CANARY + p[1]
        ),
        st.just("https://hc-ping.example.invalid/" + CANARY),
        st.just(identity),
        st.just("# my key\n" + identity + "\n"),
        st.just(identity[:-4] + CANARY[:4]),
    )


# --- TOML values ---------------------------------------------------------------------------

_datetimes = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(min_value=date(1, 1, 1)),
    st.times(),
)


def toml_scalars(spec: KeySpec, identity: str) -> st.SearchStrategy[Any]:
    return st.one_of(
        for_toml(setting_text(spec, identity)),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([0, 1, -1, 5, 22, 23, 65535, 65536, 2**63 - 1]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        _datetimes,
    )


def toml_values(spec: KeySpec, identity: str) -> st.SearchStrategy[Any]:
    """A value in a settings file: any TOML type, arrays and inline tables included."""
    scalars = toml_scalars(spec, identity)
    return st.one_of(
        scalars,
        scalars,
        st.lists(scalars, max_size=4),
        st.lists(for_toml(setting_text(spec, identity)), max_size=4),
        st.dictionaries(st.sampled_from(["a", "name", spec.name]), scalars, max_size=2),
    )


def file_bytes(spec: KeySpec, identity: str) -> st.SearchStrategy[bytes]:
    """A secret's file (`PGBACK_<KEY>_FILE`): its text, or bytes that are no text at all."""
    text = setting_text(spec, identity).filter(_valid_utf8).map(lambda t: t.encode())
    return st.one_of(
        text,
        text.map(lambda b: b + b"\n"),
        text.map(lambda b: b + b"\r\n\r\n"),
        text.map(lambda b: b + b"\x00"),
        text.map(lambda b: b"\xff\xfe" + b),
        st.just(CANARY.encode() * 10_000),  # 160 kB: larger than any secret
    )


Drawer = Callable[[st.SearchStrategy[Any]], Any]
