"""pg_back's object names, parsed (no I/O).

pg_back names each file `<name>_<timestamp>.<extension>` (`pg_globals_2025-04-13T21:34:08Z.sql`,
`shop_2025-04-13_21-34-08.dump`), directly under the upload prefix, or under a folder named
like the file when its backup_directory holds `{dbname}` (`shop/shop_<timestamp>.dump`). Its
timestamp is RFC 3339 (`2006-01-02T15:04:05Z07:00`: `Z` or an offset like `+02:00`) or the
legacy `2006-01-02_15-04-05`, which carries no zone. The extension says what the file is:
`sql` (globals, or a plain-format dump; `sql.gz` when pg_dump compressed it), `out` (settings,
hba, ident), `dump` (custom format), `tar`, `d` (a directory of files), `createdb.sql`; then
`.age` when encrypted, and checksum files (`.sha1` ... `.sha512`): `X.sha256` of the plain
file, `X.age.sha256` of the encrypted one, `X.sha256.age` the former encrypted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_TIMESTAMP = (
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})"
    r"|\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})"
)
_EXTENSION = r"(?P<ext>createdb\.sql|sql\.gz|sql|dump|tar|out|d)"
_SUFFIXES = r"(?P<suffixes>(?:\.(?:age|sha1|sha224|sha256|sha384|sha512))*)"
_FILE = re.compile(rf"^(?P<stem>.+)_{_TIMESTAMP}\.{_EXTENSION}{_SUFFIXES}$")
ALGORITHMS = ("sha1", "sha224", "sha256", "sha384", "sha512")

# what a file holds, by its name and extension (the engine's manifest kinds, plus two)
KIND_CHECKSUM = "checksum"
KIND_CREATEDB = "createdb"
_INSTANCE_FILES = {
    ("pg_globals", "sql"): "globals",
    ("pg_settings", "out"): "settings",
    ("hba_file", "out"): "hba",
    ("ident_file", "out"): "ident",
}
FORMATS = {"dump": "custom", "tar": "tar", "d": "directory", "sql": "plain", "sql.gz": "plain"}

# a file's role towards its main file, by the suffixes after the extension
MAIN, MAIN_ENCRYPTED = "main", "main.age"
SUM_PLAIN, SUM_PLAIN_ENCRYPTED, SUM_STORED = "sum", "sum.age", "age.sum"
SUM_OF_SUM = "sum.age.sum"  # the checksum of an encrypted checksum file: kept, not used


@dataclass(frozen=True)
class PgBackName:
    key: str
    stem: str  # the database name, as pg_back cleaned it (`/` became `_`), or pg_globals...
    timestamp: str  # as written: the set id
    started: datetime
    extension: str
    role: str
    algorithm: str | None  # of a checksum file
    part: str | None = None  # a file inside a directory-format dump

    @property
    def kind(self) -> str:
        if self.extension == "createdb.sql":
            return KIND_CREATEDB
        return _INSTANCE_FILES.get((self.stem, self.extension), "database")

    @property
    def main_name(self) -> str:
        """The main file's name as pg_back wrote it, unencrypted: `shop_<ts>.dump`."""
        return f"{self.stem}_{self.timestamp}.{self.extension}"


def parse_timestamp(text: str) -> datetime | None:
    """A pg_back timestamp as an aware datetime; legacy ones (no zone) are read as UTC."""
    for layout in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d_%H-%M-%S"):
        try:
            moment = datetime.strptime(text.replace("Z", "+00:00"), layout)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _role(suffixes: str) -> tuple[str, str | None] | None:
    parts = [p for p in suffixes.split(".") if p]
    shape = ".".join("sum" if p in ALGORITHMS else p for p in parts)
    algorithm = next((p for p in parts if p in ALGORITHMS), None)
    if len({p for p in parts if p in ALGORITHMS}) > 1:
        return None
    roles = {
        "": MAIN,
        "age": MAIN_ENCRYPTED,
        "sum": SUM_PLAIN,
        "sum.age": SUM_PLAIN_ENCRYPTED,
        "age.sum": SUM_STORED,
        "sum.age.sum": SUM_OF_SUM,
    }
    return (roles[shape], algorithm) if shape in roles else None


def parse_key(root: str, key: str) -> PgBackName | None:
    """The pg_back file this key names (directly under `root`, in a folder named like the file,
    or inside a directory-format dump), or None when it is not one of pg_back's."""
    if not key.startswith(root):
        return None
    segments = key[len(root) :].split("/")
    if len(segments) >= 2 and _FILE.match(segments[0]) is None:
        # backup_directory with {dbname}: `shop/shop_<ts>.dump`, `pg_globals/pg_globals_<ts>.sql`
        if not segments[1].startswith(segments[0] + "_"):
            return None
        segments = segments[1:]
    match = _FILE.match(segments[0])
    if match is None:
        return None
    part: str | None = None
    if len(segments) == 1:
        role = _role(match["suffixes"])
    else:  # a directory-format dump: <stem>_<ts>.d/<file inside>
        part = "/".join(segments[1:])
        if match["ext"] != "d" or match["suffixes"] or not part:
            return None
        role = (MAIN_ENCRYPTED if part.endswith(".age") else MAIN, None)
    started = parse_timestamp(match["ts"])
    if started is None or role is None:
        return None
    return PgBackName(
        key=key,
        stem=match["stem"],
        timestamp=match["ts"],
        started=started,
        extension=match["ext"],
        role=role[0],
        algorithm=role[1],
        part=part,
    )
