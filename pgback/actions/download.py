"""`pgback download`: fetch a set into a directory, as stored or decrypted to standard files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pgback import naming
from pgback.actions.catalog import resolve_manifest
from pgback.actions.context import decryption_identities, log
from pgback.actions.fetch import stream_plain
from pgback.config import Settings
from pgback.errors import PgbackError, UsageError
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
    target = _check_dest(dest)
    storage = storage or open_storage(settings)
    manifest = resolve_manifest(storage, settings.upload_prefix, ref)
    _make_dest(target)
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
    manifest_path = target / naming.MANIFEST_NAME
    try:
        manifest_path.write_text(manifest.to_json())
    except OSError as exc:
        raise PgbackError(f"writing {manifest_path}: {exc.strerror or exc}") from None
    return files


def _check_dest(dest: str | Path) -> Path:
    """--dest must be a directory or not exist yet (it is then created); refused before
    anything is read from storage."""
    if str(dest) == "":
        raise UsageError("--dest is empty: name a directory (it is created when missing)")
    target = Path(dest)
    try:
        is_file = target.exists() and not target.is_dir()
    except OSError as exc:  # a name too long, a loop of links...
        raise UsageError(f"--dest {str(dest)!r}: {exc.strerror or exc}") from None
    if is_file:
        raise UsageError(f"--dest {str(dest)!r} is a file, not a directory: choose a directory")
    return target


def _make_dest(target: Path) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--dest {str(target)!r}: cannot create the directory: {exc.strerror or exc}"
        ) from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"--dest {str(target)!r}: not writable: choose another directory")


class _DestFile:
    """The file being written: a failing write (disk full...) names it, not the stream."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self._handle = handle
        self._path = path

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise PgbackError(f"writing {self._path}: {exc.strerror or exc}") from None


def _write_atomically(path: Path, fill: object) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
    except OSError as exc:
        raise PgbackError(f"writing into {path.parent}: {exc.strerror or exc}") from None
    try:
        handle = os.fdopen(fd, "wb")
        try:
            fill(_DestFile(handle, path))  # type: ignore[operator]
        finally:
            _local(handle.close, path)
        _local(lambda: os.replace(tmp, path), path)
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


def _local(step: Callable[[], object], path: Path) -> None:
    """A step on the local file (flush, rename): its OSError names the file."""
    try:
        step()
    except OSError as exc:
        raise PgbackError(f"writing {path}: {exc.strerror or exc}") from None
