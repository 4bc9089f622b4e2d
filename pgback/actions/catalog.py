"""Finding backup sets in storage: which exist, which are complete, resolving `latest`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pgback import naming
from pgback.errors import IncompleteSetError, NotFoundError
from pgback.manifest import Manifest
from pgback.storage.base import ObjectInfo, Storage


@dataclass
class SetSummary:
    set_id: str
    started: datetime
    objects: list[ObjectInfo] = field(default_factory=list)
    manifest: Manifest | None = None
    problem: str | None = None  # e.g. an unreadable manifest

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def size(self) -> int:
        return sum(obj.size for obj in self.objects)

    @property
    def databases(self) -> list[str]:
        if self.manifest is not None:
            return self.manifest.databases
        names: list[str] = []
        for obj in self.objects:
            filename = obj.key.rsplit("/", 1)[-1]
            base = filename.removesuffix(naming.ENCRYPTED_SUFFIX).removesuffix(
                naming.COMPRESSED_SUFFIX
            )
            if base.endswith(naming.DATABASE_SUFFIX):
                try:
                    names.append(naming.decode_name(base.removesuffix(naming.DATABASE_SUFFIX)))
                except ValueError:
                    continue
        return names

    @property
    def encrypted(self) -> bool:
        if self.manifest is not None:
            return self.manifest.encrypted
        return any(obj.key.endswith(naming.ENCRYPTED_SUFFIX) for obj in self.objects)


def scan_sets(
    storage: Storage, upload_prefix: str, *, read_manifests: bool = True
) -> list[SetSummary]:
    """Every set under the prefix, newest first; objects that are not ours are ignored."""
    groups: dict[str, list[ObjectInfo]] = defaultdict(list)
    for obj in storage.list(naming.root_prefix(upload_prefix)):
        parts = naming.split_key(upload_prefix, obj.key)
        if parts is not None:
            groups[parts[0]].append(obj)
    sets: list[SetSummary] = []
    for set_id, objects in groups.items():
        started = naming.parse_set_id(set_id)
        assert started is not None  # split_key only accepts parseable ids
        summary = SetSummary(set_id, started, objects)
        manifest_key = naming.manifest_key(upload_prefix, set_id)
        if read_manifests and any(obj.key == manifest_key for obj in objects):
            summary.manifest, summary.problem = _read_manifest(storage, manifest_key)
        sets.append(summary)
    return sorted(sets, key=lambda s: s.set_id, reverse=True)


def _read_manifest(storage: Storage, key: str) -> tuple[Manifest | None, str | None]:
    try:
        return Manifest.from_json(storage.get_bytes(key)), None
    except NotFoundError:
        return None, "manifest vanished while listing (being deleted?)"
    except ValueError as exc:
        return None, f"unreadable manifest: {exc}"


def resolve_set(storage: Storage, upload_prefix: str, ref: str) -> SetSummary:
    """The complete set named `ref` (a set id, or `latest`), or a clear error."""
    sets = scan_sets(storage, upload_prefix)
    where = f"{storage.describe()} under prefix {upload_prefix or '/'!r}"
    if ref == "latest":
        for summary in sets:
            if summary.complete:
                return summary
        raise NotFoundError(f"no complete backup set in {where}: run `pgback backup` first")
    for summary in sets:
        if summary.set_id == ref:
            if not summary.complete:
                why = summary.problem or "no manifest.json: the backup did not finish"
                raise IncompleteSetError(f"set {ref} is incomplete ({why}): choose another set")
            return summary
    if naming.parse_set_id(ref) is None:
        raise NotFoundError(f"{ref!r} is not a set id (like 20250413T213408Z) nor 'latest'")
    raise NotFoundError(f"no set {ref} in {where}: `pgback list` shows the sets")


def resolve_manifest(storage: Storage, upload_prefix: str, ref: str) -> Manifest:
    """The manifest of the complete set named `ref` (resolve_set refuses incomplete ones)."""
    manifest = resolve_set(storage, upload_prefix, ref).manifest
    assert manifest is not None  # resolve_set only returns complete sets
    return manifest
