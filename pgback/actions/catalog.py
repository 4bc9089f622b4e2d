"""Finding backup sets in storage: which exist, which are complete, resolving `latest`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from pgback import naming
from pgback.errors import IncompleteSetError, NotFoundError
from pgback.legacy import naming as legacy_naming
from pgback.legacy import sets as legacy
from pgback.manifest import Manifest
from pgback.storage.base import ObjectInfo, Storage


@dataclass
class SetSummary:
    set_id: str
    started: datetime
    objects: list[ObjectInfo] = field(default_factory=list)
    manifest: Manifest | None = None
    problem: str | None = None  # e.g. an unreadable manifest
    layout: str = "pgback"  # or "pg_back": a run of pg_back's flat files (pgback/legacy)

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
    storage: Storage, upload_prefix: str, *, read_manifests: bool = True, pg_back: bool = True
) -> list[SetSummary]:
    """Every set under the prefix, newest first, and (`pg_back`) the runs of pg_back's flat
    files beside them; objects that are neither are ignored."""
    groups: dict[str, list[ObjectInfo]] = defaultdict(list)
    others: list[ObjectInfo] = []
    for obj in storage.list(naming.root_prefix(upload_prefix)):
        parts = naming.split_key(upload_prefix, obj.key)
        if parts is not None:
            groups[parts[0]].append(obj)
        else:
            others.append(obj)
    sets: list[SetSummary] = []
    for set_id, objects in groups.items():
        started = naming.parse_set_id(set_id)
        assert started is not None  # split_key only accepts parseable ids
        summary = SetSummary(set_id, started, objects)
        if read_manifests:
            _read_listed_manifest(storage, upload_prefix, summary)
        sets.append(summary)
    if pg_back:
        for run in legacy.group_runs(naming.root_prefix(upload_prefix), others):
            manifest = legacy.manifest_of(run)
            sets.append(SetSummary(run.set_id, run.started, run.objects, manifest, None, "pg_back"))
    return sorted(sets, key=lambda s: (s.started, s.set_id), reverse=True)


def _read_listed_manifest(storage: Storage, upload_prefix: str, summary: SetSummary) -> None:
    """A pgback set's manifest, when the listing holds one (pg_back runs have theirs)."""
    if summary.layout != "pgback" or summary.manifest is not None or summary.problem:
        return
    manifest_key = naming.manifest_key(upload_prefix, summary.set_id)
    if any(obj.key == manifest_key for obj in summary.objects):
        summary.manifest, summary.problem = _read_manifest(storage, manifest_key)


def _read_manifest(storage: Storage, key: str) -> tuple[Manifest | None, str | None]:
    try:
        return Manifest.from_json(storage.get_bytes(key)), None
    except NotFoundError:
        return None, "manifest vanished while listing (being deleted?)"
    except ValueError as exc:
        return None, f"unreadable manifest: {exc}"


def resolve_set(storage: Storage, upload_prefix: str, ref: str) -> SetSummary:
    """The complete set named `ref` (a set id, or `latest`), or a clear error. Only the
    manifests needed are read: `latest`'s from the newest set on, until one is complete (one
    request each, sequential: a bucket keeps dozens of sets)."""
    sets = scan_sets(storage, upload_prefix, read_manifests=False)
    where = f"{storage.describe()} under prefix {upload_prefix or '/'!r}"
    if ref == "latest":
        for summary in sets:
            _read_listed_manifest(storage, upload_prefix, summary)
            if summary.complete:
                return _probed(storage, summary)
        raise NotFoundError(f"no complete backup set in {where}: run `pgback backup` first")
    for summary in sets:
        if summary.set_id == ref:
            _read_listed_manifest(storage, upload_prefix, summary)
            if not summary.complete:
                why = summary.problem or "no manifest.json: the backup did not finish"
                raise IncompleteSetError(f"set {ref} is incomplete ({why}): choose another set")
            return _probed(storage, summary)
    if naming.parse_set_id(ref) is None and legacy_naming.parse_timestamp(ref) is None:
        raise NotFoundError(
            f"{ref!r} is not a set id (like 20250413T213408Z, or pg_back's "
            "2025-04-13T21:34:08Z) nor 'latest'"
        )
    raise NotFoundError(f"no set {ref} in {where}: `pgback list` shows the sets")


def _probed(storage: Storage, summary: SetSummary) -> SetSummary:
    """A pg_back run's manifest, completed from its objects (encryption, checksum files)."""
    if summary.layout == legacy.LAYOUT and summary.manifest is not None:
        summary.manifest = legacy.probe(storage, summary.manifest)
    return summary


def describe_pg_back_runs(storage: Storage, sets: list[SetSummary]) -> None:
    """Which age recipient encrypted each pg_back run (one header read each), for listings."""
    for summary in sets:
        _probed(storage, summary)


def resolve_manifest(storage: Storage, upload_prefix: str, ref: str) -> Manifest:
    """The manifest of the complete set named `ref` (resolve_set refuses incomplete ones)."""
    manifest = resolve_set(storage, upload_prefix, ref).manifest
    assert manifest is not None  # resolve_set only returns complete sets
    return manifest
