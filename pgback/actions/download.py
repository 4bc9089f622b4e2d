"""`pgback download`: fetch a set into a directory, as stored or decrypted to standard files."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback import naming
from pgback.actions.catalog import resolve_manifest
from pgback.actions.context import decryption_identities, log
from pgback.actions.fetch import stream_plain
from pgback.config import Settings
from pgback.errors import UsageError
from pgback.manifest import KIND_DATABASE, KIND_IDENTITY, FileEntry
from pgback.progress import Progress
from pgback.storage import open_storage
from pgback.storage.base import Storage


@dataclass(frozen=True)
class DownloadedFile:
    entry: FileEntry
    path: Path


def plain_name(entry: FileEntry) -> str:
    """Standard file names: pg_globals.sql, pg_settings.out, ..., <database>.dump; a pg_back
    file keeps the name pg_back gave it (`shop_2025-04-13T21:34:08Z.dump`)."""
    original = getattr(entry, "original", "")
    if original:
        return original
    if entry.kind == KIND_DATABASE:
        return naming.database_file(entry.name)
    return entry.name


def run_download(
    settings: Settings,
    ref: str,
    dest: str | Path,
    *,
    decrypt: bool = False,
    storage: Storage | None = None,
) -> list[DownloadedFile]:
    storage = storage or open_storage(settings)
    manifest = resolve_manifest(storage, settings.upload_prefix, ref)
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    identities = decryption_identities(settings, storage, manifest) if decrypt else []
    files: list[DownloadedFile] = []
    for entry in manifest.files:
        if decrypt and entry.kind == KIND_IDENTITY:
            continue  # its job is done once the files are decrypted
        if getattr(entry, "parts", ()):
            files += _download_parts(storage, entry, identities, target, decrypt)
            continue
        name = plain_name(entry) if decrypt else entry.key.rsplit("/", 1)[-1]
        path = target / name
        if path.exists():
            raise UsageError(f"{path} already exists: choose an empty --dest directory")
        progress = Progress.for_mode(f"downloading {name}", settings.progress)
        _write_atomically(
            path,
            lambda f, e=entry, p=progress: stream_plain(
                storage, e, identities, f, progress=p, decrypt=decrypt
            ),
        )
        progress.done()
        log.info("downloaded %s", path)
        files.append(DownloadedFile(entry, path))
    (target / naming.MANIFEST_NAME).write_text(manifest.to_json())
    return files


def _write_atomically(path: Path, fill: object) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)  # type: ignore[operator]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _download_parts(
    storage: Storage, entry: FileEntry, identities: list[Any], target: Path, decrypt: bool
) -> list[DownloadedFile]:
    """A pg_back directory-format dump: its folder, each file inside decrypted or as stored."""
    folder = target / (
        getattr(entry, "original", "") if decrypt else entry.key.rstrip("/").rsplit("/", 1)[-1]
    )
    folder.mkdir(exist_ok=True)
    done = []
    for key, size in getattr(entry, "parts", ()):
        name = key[len(entry.key) :]
        encrypted = name.endswith(naming.ENCRYPTED_SUFFIX)
        part = FileEntry(entry.kind, name, key, size, "", "none", encrypted)
        path = folder / (name.removesuffix(naming.ENCRYPTED_SUFFIX) if decrypt else name)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(
            path, lambda f, e=part: stream_plain(storage, e, identities, f, decrypt=decrypt)
        )
        done.append(DownloadedFile(part, path))
    log.info("downloaded %s (%d files)", folder, len(done))
    return done
