"""pg_back's files grouped into runs, each described by a Manifest the engine reads.

A run's files carry the time each one was started (pg_back's `uniform_timestamp` is off by
default): globals and configuration share one, each database its own, seconds or hours later.
Files with the same timestamp form a group; groups are joined into runs oldest first, and a
new run begins with each globals file (every run that is not `dump_only` starts with one), or
when a group holds a file the run already has. A run's set id is its first timestamp, as
pg_back wrote it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pgback.legacy import naming as n
from pgback.manifest import KIND_DATABASE, KIND_GLOBALS, Encryption, FileEntry, Manifest
from pgback.storage.base import ObjectInfo, Storage

LAYOUT = "pg_back"
_DIGEST = re.compile(r"^([0-9a-fA-F]+)\s+\*?(.+)$")


@dataclass(frozen=True)
class PgBackEntry(FileEntry):
    """A file of a pg_back run; `sha256` is empty unless a checksum file gave it."""

    format: str = ""  # databases: custom, tar, plain or directory
    original: str = ""  # the name pg_back gave it, unencrypted: `shop_<ts>.dump`
    checksums: tuple[tuple[str, str, str], ...] = ()  # (role, algorithm, key)
    parts: tuple[tuple[str, int], ...] = ()  # directory format: (key, size) of each file
    stored_digest: str = ""  # "algorithm:hex" of the stored bytes, from a checksum file
    plain_digest: str = ""  # "algorithm:hex" of the plain bytes, when not encrypted


@dataclass
class Run:
    set_id: str
    started: datetime
    names: list[n.PgBackName] = field(default_factory=list)
    objects: list[ObjectInfo] = field(default_factory=list)


def group_runs(root: str, objects: Iterable[ObjectInfo]) -> list[Run]:
    """pg_back's files among `objects`, as runs; anything else is left out."""
    groups: dict[str, list[tuple[n.PgBackName, ObjectInfo]]] = defaultdict(list)
    for obj in objects:
        name = n.parse_key(root, obj.key)
        if name is not None:
            groups[name.timestamp].append((name, obj))
    ordered = sorted(groups.values(), key=lambda g: (g[0][0].started, g[0][0].timestamp))
    runs: list[Run] = []
    held: set[tuple[str, str]] = set()
    for group in ordered:
        files = {(name.kind, name.stem) for name, _ in group if name.kind != n.KIND_CREATEDB}
        first = group[0][0]
        if not runs or any(kind == KIND_GLOBALS for kind, _ in files) or files & held:
            runs.append(Run(first.timestamp, first.started))
            held = set()
        held |= files
        runs[-1].names += [name for name, _ in group]
        runs[-1].objects += [obj for _, obj in group]
    return runs


def manifest_of(run: Run) -> Manifest:
    """What the listing tells about a run: its files, sizes, encryption (not yet which kind)."""
    sizes = {obj.key: obj.size for obj in run.objects}
    mains: dict[tuple[str, str, str], list[n.PgBackName]] = defaultdict(list)
    sums: dict[tuple[str, str, str], list[n.PgBackName]] = defaultdict(list)
    for name in run.names:
        slot = (name.kind, name.stem, name.extension)
        (mains if name.role in (n.MAIN, n.MAIN_ENCRYPTED) else sums)[slot].append(name)
    files: list[FileEntry] = []
    for slot in sorted(mains, key=_order):
        files.append(_main_entry(slot, mains[slot], sums.get(slot, []), sizes))
    for slot in sorted(sums, key=_order):
        for name in sums[slot]:
            files.append(
                PgBackEntry(
                    n.KIND_CHECKSUM,
                    name.key.rsplit("/", 1)[-1],
                    name.key,
                    sizes[name.key],
                    "",
                    encrypted=name.key.endswith(".age"),
                    original=name.key.rsplit("/", 1)[-1].removesuffix(".age"),
                )
            )
    encrypted = any(f.encrypted for f in files)
    return Manifest(
        set_id=run.set_id,
        started_at=run.started.isoformat(),
        finished_at="",
        tool_version="pg_back",
        server_version="unknown (pg_back records none)",
        pg_dump_version="unknown",
        encryption=Encryption("age" if encrypted else "none"),
        files=tuple(files),
        tool=LAYOUT,
    )


_KIND_ORDER = {"globals": 0, "settings": 1, "hba": 2, "ident": 3, "createdb": 4, "database": 5}


def _order(slot: tuple[str, str, str]) -> tuple[int, str, str]:
    return (_KIND_ORDER.get(slot[0], 9), slot[1], slot[2])


def _main_entry(
    slot: tuple[str, str, str],
    names: list[n.PgBackName],
    sums: list[n.PgBackName],
    sizes: dict[str, int],
) -> PgBackEntry:
    kind, stem, extension = slot
    first = names[0]
    encrypted = any(name.role == n.MAIN_ENCRYPTED for name in names)
    checksums = tuple((s.role, s.algorithm or "", s.key) for s in sums)
    display = stem if kind in (KIND_DATABASE, n.KIND_CREATEDB) else first.main_name
    fmt = n.FORMATS.get(extension, "") if kind == KIND_DATABASE else ""
    if extension == "d":  # many objects under `<stem>_<ts>.d/`
        parts = tuple(sorted((name.key, sizes[name.key]) for name in names))
        folder = first.key[: first.key.index(first.main_name) + len(first.main_name) + 1]
        return PgBackEntry(
            kind,
            display,
            folder,
            sum(size for _, size in parts),
            "",
            "none",
            encrypted,
            format=fmt,
            original=first.main_name,
            checksums=checksums,
            parts=parts,
        )
    # an encrypted file and its kept plain source: the encrypted one is what pg_back uploads
    chosen = next((name for name in names if name.role == n.MAIN_ENCRYPTED), first)
    return PgBackEntry(
        kind,
        display,
        chosen.key,
        sizes[chosen.key],
        "",
        "none",
        encrypted,
        format=fmt,
        original=first.main_name,
        checksums=checksums,
    )


def probe(storage: Storage, manifest: Manifest) -> Manifest:
    """Complete a run's manifest from its objects: which age recipient encrypted it (from one
    file's header), and the digests its unencrypted checksum files give."""
    from pgback.adapters.age_scrypt import stanza_types  # local: keeps naming pure and light

    encryption = manifest.encryption
    first = next((f for f in manifest.files if f.encrypted and f.kind != n.KIND_CHECKSUM), None)
    if first is not None:
        key = first.parts[0][0] if isinstance(first, PgBackEntry) and first.parts else first.key
        with storage.open_reader(key) as reader:
            types = stanza_types(reader.read(4096))
        mode = "scrypt" if "scrypt" in types else "x25519" if "X25519" in types else "age"
        encryption = Encryption(mode)
    files = [
        _with_digests(storage, entry) if isinstance(entry, PgBackEntry) else entry
        for entry in manifest.files
    ]
    return replace(manifest, encryption=encryption, files=tuple(files))


def _with_digests(storage: Storage, entry: PgBackEntry) -> PgBackEntry:
    stored = plain = ""
    for role, algorithm, key in entry.checksums:
        if role == n.SUM_STORED or (role == n.SUM_PLAIN and not entry.encrypted):
            digest = _digest_for(storage.get_bytes(key), entry)
            if digest:
                stored = f"{algorithm}:{digest}"
                if role == n.SUM_PLAIN:
                    plain = stored
    if not stored or entry.parts:
        return replace(entry, plain_digest=plain)
    algorithm, digest = stored.split(":", 1)
    sha256 = digest if algorithm == "sha256" else ""
    return replace(entry, sha256=sha256, stored_digest=stored, plain_digest=plain)


def _digest_for(text: bytes, entry: PgBackEntry) -> str:
    """The digest a shaXsum-style checksum file gives for this entry's stored file."""
    stored_name = entry.key.rsplit("/", 1)[-1]
    for line in text.decode("utf-8", "replace").splitlines():
        match = _DIGEST.match(line.strip())
        if match and match.group(2).rsplit("/", 1)[-1] in (stored_name, entry.original):
            return match.group(1).lower()
    return ""


def digests_of_parts(text: bytes) -> dict[str, str]:
    """A directory dump's checksum file: file name inside the directory -> digest."""
    found: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        match = _DIGEST.match(line.strip())
        if match:
            found[match.group(2).rsplit("/", 1)[-1]] = match.group(1).lower()
    return found


def is_pg_back(summary: Any) -> bool:
    return getattr(summary, "layout", "pgback") == LAYOUT
