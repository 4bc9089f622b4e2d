"""Connection strings read and written without importing psycopg, in the plain cases.

A restore reads its `--target` and writes one `-d` argument per database; importing psycopg
for that costs more than the rest of its start-up's own work. A string made only of
`keyword=value` pairs of common keywords, with values that need no quoting, reads the same in
every libpq: it is split here. Anything else (quotes, backslashes, URLs, other keywords,
non-ASCII text) is left to libpq's own parser through psycopg, which also says what is wrong.
"""

from __future__ import annotations

import re

# keywords every supported libpq knows (a test checks them against the installed one)
PLAIN_KEYWORDS = frozenset(
    {
        "host",
        "port",
        "user",
        "dbname",
        "password",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "connect_timeout",
        "application_name",
    }
)
# printable ASCII but the quote and the backslash, which libpq reads as quoting
_VALUE = r"[!#-&(-\[\]-~]+"
_PAIRS = re.compile(rf"[ \t\n\r\f\v]*(?:[a-z_]+={_VALUE}[ \t\n\r\f\v]*)*")
_PAIR = re.compile(rf"([a-z_]+)=({_VALUE})")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def split_plain(conninfo: str) -> dict[str, str] | None:
    """libpq's reading of a plain `key=value ...` string (the last of a repeated key wins, as
    in libpq); None when the string is not that plain."""
    if not _PAIRS.fullmatch(conninfo):
        return None
    parts: dict[str, str] = {}
    for key, value in _PAIR.findall(conninfo):
        if key not in PLAIN_KEYWORDS:
            return None
        parts[key] = value
    return parts


def dbname_arg(dbname: str) -> str:
    """A `-d` argument that libpq reads as exactly this database name, whatever it holds."""
    if _PLAIN_NAME.fullmatch(dbname):
        return f"dbname={dbname}"  # what make_conninfo writes for a name needing no quotes
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dbname=dbname)
