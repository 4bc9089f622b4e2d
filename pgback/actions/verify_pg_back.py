"""`pgback verify` of a pg_back run: sizes, the checksum files pg_back wrote, decryption, and
`pg_restore --list` of each archive, in one read of each file where it can."""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import threading
from dataclasses import replace
from typing import Any

from pgback.actions.fetch import stream_plain
from pgback.errors import IntegrityError
from pgback.legacy import naming as n
from pgback.legacy.sets import PgBackEntry, digests_of_parts
from pgback.manifest import KIND_DATABASE
from pgback.process import Child, child_env
from pgback.storage.base import Storage


class _Tee:
    """Plain bytes to a hash and, while it reads, to pg_restore --list (which exits early)."""

    def __init__(self, digest: Any, pipe: Any | None) -> None:
        self.digest = digest
        self._pipe = pipe

    def write(self, data: bytes) -> int:
        if self.digest is not None:
            self.digest.update(data)
        if self._pipe is not None:
            try:
                self._pipe.write(data)
            except BrokenPipeError:
                self._pipe = None
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                self._pipe.close()


def check_entry(
    storage: Storage, entry: PgBackEntry, identities: list[Any], pg_restore: str | None
) -> str:
    """What was checked; a PgbackError says what failed. `identities` empty: the stored
    bytes only. `pg_restore`: the program, for archives."""
    if entry.parts:
        return _check_directory(storage, entry, identities)
    checked = ["size"]
    if entry.stored_digest:
        algorithm, expected = entry.stored_digest.split(":", 1)
        if algorithm != "sha256":  # sha256 is checked in the stream by stream_plain
            _compare(_stored_digest(storage, entry, algorithm), expected, entry, algorithm)
        checked.append(f"{algorithm} of the stored file")
    if entry.encrypted and not identities:
        stream_plain(storage, entry, [], _Tee(None, None), decrypt=False)
        return ", ".join(checked) + " match (not decrypted: no identity given)"
    plain = entry.plain_digest or _encrypted_plain_digest(storage, entry, identities)
    algorithm, expected = plain.split(":", 1) if plain else ("", "")
    digest = hashlib.new(algorithm) if algorithm else None
    archive = entry.kind == KIND_DATABASE and entry.format in ("custom", "tar")
    child = None
    if archive and pg_restore:
        child = Child([pg_restore, "--list"], env=child_env(), stdin=subprocess.PIPE)
    counted: list[int] = []
    reader = None
    if child is not None:
        reader = threading.Thread(
            target=lambda: counted.append(
                sum(1 for line in child.stdout if line and not line.startswith(b";"))
            ),
            daemon=True,
        )
        reader.start()
    sink = _Tee(digest, child.stdin if child is not None else None)
    try:
        stream_plain(storage, entry, identities, sink)
        sink.close()
    except BaseException:
        if child is not None:
            child.kill()
        raise
    finally:
        if reader is not None:
            reader.join(timeout=60)
    if digest is not None:
        _compare(digest.hexdigest(), expected, entry, algorithm)
        checked.append(f"{algorithm} of the plain file")
    detail = ", ".join(checked) + " match, readable"
    if child is not None:
        child.check(f"pg_restore --list of {entry.key}")
        detail += f"; pg_restore --list: {counted[0] if counted else 0} entries"
    return detail


def _compare(actual: str, expected: str, entry: PgBackEntry, algorithm: str) -> None:
    if actual != expected:
        raise IntegrityError(
            f"{entry.key}: its {algorithm} differs from pg_back's checksum file: corrupted"
            + IntegrityError.hint
        )


def _stored_digest(storage: Storage, entry: PgBackEntry, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    stream_plain(storage, entry, [], _Tee(digest, None), decrypt=False)
    return digest.hexdigest()


def _encrypted_plain_digest(storage: Storage, entry: PgBackEntry, identities: list[Any]) -> str:
    """The digest of the plain file, from pg_back's encrypted checksum file (`X.sha256.age`)."""
    for role, algorithm, key in entry.checksums:
        if role == n.SUM_PLAIN_ENCRYPTED and identities:
            text = _small_plain(storage, key, identities)
            for line in text.decode("utf-8", "replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("*").rsplit("/", 1)[-1] == entry.original:
                    return f"{algorithm}:{parts[0].lower()}"
    return ""


def _small_plain(storage: Storage, key: str, identities: list[Any]) -> bytes:
    size = next((obj.size for obj in storage.list(key) if obj.key == key), 0)
    buffer = io.BytesIO()
    stream_plain(storage, _file(key, size, key.endswith(".age")), identities, buffer)
    return buffer.getvalue()


def _file(key: str, size: int, encrypted: bool) -> PgBackEntry:
    return PgBackEntry(n.KIND_CHECKSUM, key.rsplit("/", 1)[-1], key, size, "", "none", encrypted)


def _check_directory(storage: Storage, entry: PgBackEntry, identities: list[Any]) -> str:
    """A directory-format dump: every file inside, against the directory's checksum file."""
    expected: dict[str, str] = {}
    algorithm = ""
    for role, algo, key in entry.checksums:
        if role == n.SUM_PLAIN or (role == n.SUM_PLAIN_ENCRYPTED and identities):
            expected = digests_of_parts(_small_plain(storage, key, identities))
            algorithm = algo
    decrypt = bool(identities) or not entry.encrypted
    for key, size in entry.parts:
        part = replace(_file(key, size, key.endswith(".age")), kind=entry.kind)
        digest = hashlib.new(algorithm) if algorithm and decrypt else None
        stream_plain(storage, part, identities, _Tee(digest, None), decrypt=decrypt)
        name = key.rsplit("/", 1)[-1].removesuffix(".age")
        if digest is not None and name in expected:
            _compare(digest.hexdigest(), expected[name], part, algorithm)
    how = f", {algorithm} of each" if algorithm and decrypt else ""
    return f"{len(entry.parts)} files in the directory: sizes{how} match" + (
        ", readable" if decrypt else " (not decrypted: no identity given)"
    )
