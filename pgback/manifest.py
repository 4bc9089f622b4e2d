"""The manifest: the record of a backup set, written last (its presence makes a set complete)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1

KIND_GLOBALS = "globals"
KIND_SETTINGS = "settings"
KIND_HBA = "hba"
KIND_IDENT = "ident"
KIND_DATABASE = "database"
KIND_IDENTITY = "identity"  # passphrase mode: the set's identity, wrapped with the passphrase
KINDS = (KIND_GLOBALS, KIND_SETTINGS, KIND_HBA, KIND_IDENT, KIND_DATABASE, KIND_IDENTITY)


@dataclass(frozen=True)
class FileEntry:
    kind: str
    name: str  # the real name: the database name, or the standard file name
    key: str  # object key, relative to the bucket
    size: int  # bytes stored
    sha256: str  # of the bytes stored
    compression: str = "none"
    encrypted: bool = False


@dataclass(frozen=True)
class Encryption:
    mode: str = "none"  # none | x25519 | passphrase
    recipients: tuple[str, ...] = ()  # public keys only, never secrets


@dataclass(frozen=True)
class Manifest:
    set_id: str
    started_at: str
    finished_at: str
    tool_version: str
    server_version: str
    pg_dump_version: str
    encryption: Encryption
    files: tuple[FileEntry, ...]
    compression: str = "none"
    compression_level: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    tool: str = "pgback"
    format: int = FORMAT_VERSION

    @property
    def databases(self) -> list[str]:
        return [f.name for f in self.files if f.kind == KIND_DATABASE]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def encrypted(self) -> bool:
        return self.encryption.mode != "none"

    def file(self, kind: str, name: str | None = None) -> FileEntry | None:
        for entry in self.files:
            if entry.kind == kind and (name is None or entry.name == name):
                return entry
        return None

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse a manifest; ValueError with what is wrong when it is not one."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("tool") != "pgback":
            raise ValueError("not a pgback manifest")
        if data.get("format", 0) > FORMAT_VERSION:
            raise ValueError(
                f"manifest format {data['format']} is newer than this pgback understands"
            )
        try:
            files = tuple(FileEntry(**entry) for entry in data.pop("files"))
            encryption = data.pop("encryption")
            enc = Encryption(
                mode=encryption["mode"], recipients=tuple(encryption.get("recipients", ()))
            )
            warnings = tuple(data.pop("warnings", ()))
            return cls(files=files, encryption=enc, warnings=warnings, **data)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"manifest is missing or has unexpected fields: {exc}") from None
