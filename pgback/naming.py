"""Set ids and object keys: the remote layout `<prefix>/<set id>/<file>`.

Object names must be reversible for any database name (spaces, quotes, slashes, unicode), so
every byte outside `[A-Za-z0-9_-]` is percent-encoded; the manifest still holds the real name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

SET_ID_FORMAT = "%Y%m%dT%H%M%SZ"
_SET_ID_RE = re.compile(r"^\d{8}T\d{6}Z$")
_SAFE = re.compile(rb"[A-Za-z0-9_-]")

MANIFEST_NAME = "manifest.json"
IDENTITY_NAME = "identity.age"
ENCRYPTED_SUFFIX = ".age"
COMPRESSED_SUFFIX = ".zst"

# kind -> base file name; databases use `<encoded name>.dump`
GLOBALS_FILE = "pg_globals.sql"
SETTINGS_FILE = "pg_settings.out"
HBA_FILE = "hba_file.out"
IDENT_FILE = "ident_file.out"
DATABASE_SUFFIX = ".dump"


def make_set_id(started: datetime) -> str:
    """The run's UTC start time, sortable and colon-free: `20250413T213408Z`."""
    if started.tzinfo is None:
        raise ValueError("set ids need an aware datetime")
    return started.astimezone(UTC).strftime(SET_ID_FORMAT)


def parse_set_id(set_id: str) -> datetime | None:
    """The set's start time, or None when the name is not one of ours."""
    if not _SET_ID_RE.match(set_id):
        return None
    try:
        return datetime.strptime(set_id, SET_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def encode_name(name: str) -> str:
    """Reversible, unambiguous object-name form of a database name."""
    out: list[str] = []
    for byte in name.encode("utf-8"):
        char = bytes([byte])
        out.append(char.decode() if _SAFE.match(char) else f"%{byte:02X}")
    return "".join(out)


def decode_name(encoded: str) -> str:
    """Inverse of `encode_name`; raises ValueError on anything it could not have produced."""
    raw = bytearray()
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == "%":
            hex_part = encoded[i + 1 : i + 3]
            if len(hex_part) != 2 or not re.fullmatch(r"[0-9A-F]{2}", hex_part):
                raise ValueError(f"bad escape in object name {encoded!r}")
            raw.append(int(hex_part, 16))
            i += 3
            continue
        if not _SAFE.match(char.encode()):
            raise ValueError(f"unexpected character {char!r} in object name {encoded!r}")
        raw.append(ord(char))
        i += 1
    return raw.decode("utf-8")


def database_file(dbname: str) -> str:
    return encode_name(dbname) + DATABASE_SUFFIX


def stored_name(base: str, *, compressed: bool, encrypted: bool) -> str:
    """Object file name: `.zst` when compressed in the stream, `.age` when encrypted.

    The suffixes say in which order to undo them with standard tools (`age -d`, then `zstd -d`).
    """
    name = base
    if compressed:
        name += COMPRESSED_SUFFIX
    if encrypted:
        name += ENCRYPTED_SUFFIX
    return name


def set_prefix(upload_prefix: str, set_id: str) -> str:
    """`<prefix>/<set id>/` (no leading slash; an empty prefix means the bucket root)."""
    prefix = upload_prefix.strip("/")
    return f"{prefix}/{set_id}/" if prefix else f"{set_id}/"


def manifest_key(upload_prefix: str, set_id: str) -> str:
    """The key of a set's manifest: its presence makes the set complete."""
    return set_prefix(upload_prefix, set_id) + MANIFEST_NAME


def is_manifest(key: str) -> bool:
    return key.rsplit("/", 1)[-1] == MANIFEST_NAME


def root_prefix(upload_prefix: str) -> str:
    prefix = upload_prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def split_key(upload_prefix: str, key: str) -> tuple[str, str] | None:
    """(set id, file name) for a key directly inside one of our set folders, else None."""
    root = root_prefix(upload_prefix)
    if not key.startswith(root):
        return None
    rest = key[len(root) :]
    if rest.count("/") != 1:
        return None
    set_id, filename = rest.split("/")
    if parse_set_id(set_id) is None or not filename:
        return None
    return set_id, filename
