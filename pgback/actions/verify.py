"""`pgback verify`: re-read every object of a set; check size, sha256, decryption and dumps."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

from pgback.actions.catalog import resolve_manifest
from pgback.actions.context import decryption_identities
from pgback.actions.fetch import stream_plain
from pgback.actions.verify_pg_back import check_entry
from pgback.adapters import pgclients
from pgback.config import Settings
from pgback.errors import PgbackError
from pgback.legacy.sets import PgBackEntry
from pgback.manifest import KIND_DATABASE, FileEntry
from pgback.process import Child, child_env
from pgback.storage import open_storage
from pgback.storage.base import Storage


@dataclass(frozen=True)
class FileCheck:
    entry: FileEntry
    ok: bool
    detail: str
    error: PgbackError | None = None  # why it failed (its exit code is verify's)


class _ListingPipe:
    """pg_restore --list reads only the archive's table of contents and exits: the rest of
    the stream is still read (and hashed) but discarded."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._open = True

    def write(self, data: bytes) -> int:
        if self._open:
            try:
                self._inner.write(data)
            except BrokenPipeError:
                self._open = False
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._open:
            with contextlib.suppress(BrokenPipeError):
                self._inner.close()
            self._open = False


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def run_verify(
    settings: Settings, ref: str, *, storage: Storage | None = None
) -> tuple[str, list[FileCheck]]:
    """(set id, one check per file). Decrypts when an identity or passphrase is configured."""
    storage = storage or open_storage(settings)
    manifest = resolve_manifest(storage, settings.upload_prefix, ref)
    can_decrypt = not manifest.encrypted or bool(
        settings.cipher_private_key or settings.cipher_pass
    )
    identities: list[Any] = []
    if manifest.encrypted and can_decrypt:
        identities = decryption_identities(settings, storage, manifest)
    checks = [
        _check_file(settings, storage, entry, identities, can_decrypt, manifest.pg_dump_version)
        for entry in manifest.files
    ]
    return manifest.set_id, checks


def _check_file(
    settings: Settings,
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    can_decrypt: bool,
    dump_version: str,
) -> FileCheck:
    try:
        if isinstance(entry, PgBackEntry):  # a pg_back run: its own checksum files
            clients = pgclients.for_archive(
                settings.pg_bin_dir, dump_version, None, ("pg_restore",)
            )
            pg_restore = clients.program("pg_restore")
            detail = check_entry(storage, entry, identities if can_decrypt else [], pg_restore)
            return FileCheck(entry, True, detail)
        if not can_decrypt or entry.kind == "identity":
            stream_plain(storage, entry, identities, _Discard(), decrypt=False)
            how = "not decrypted: no identity given" if entry.encrypted else "stored as is"
            return FileCheck(entry, True, f"size and sha256 match ({how})")
        if entry.kind == KIND_DATABASE:
            entries = _pg_restore_list(settings, storage, entry, identities, dump_version)
            return FileCheck(
                entry,
                True,
                f"size and sha256 match, readable; pg_restore --list: {entries} entries",
            )
        stream_plain(storage, entry, identities, _Discard())
        return FileCheck(entry, True, "size and sha256 match, readable")
    except PgbackError as exc:
        return FileCheck(entry, False, str(exc), exc)


def _pg_restore_list(
    settings: Settings,
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    dump_version: str,
) -> int:
    clients = pgclients.for_archive(settings.pg_bin_dir, dump_version, None, ("pg_restore",))
    argv = [clients.program("pg_restore"), "--list"]
    child = Child(argv, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    counted: list[int] = []

    def count_lines() -> None:
        counted.append(sum(1 for line in child.stdout if line and not line.startswith(b";")))

    reader = threading.Thread(target=count_lines, daemon=True)
    reader.start()
    try:
        pipe = _ListingPipe(child.stdin)
        stream_plain(storage, entry, identities, pipe)
        pipe.close()
    except BaseException:
        child.kill()
        raise
    finally:
        reader.join(timeout=60)
    child.check(f"pg_restore --list of {entry.key}")
    return counted[0] if counted else 0
