"""Reading a stored file back as plain bytes: verify -> decrypt -> decompress -> sink."""

from __future__ import annotations

from typing import Any

from pgback.adapters import compression, crypto
from pgback.errors import CryptoError
from pgback.manifest import FileEntry
from pgback.progress import Progress
from pgback.storage.base import Storage
from pgback.streams import VerifyingReader, copy_stream


def stream_plain(
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    sink: Any,
    *,
    progress: Progress | None = None,
    decrypt: bool = True,
) -> None:
    """Write the file's plain content (or its stored bytes when `decrypt` is False) to `sink`.

    Size and sha256 are checked against the manifest as the bytes arrive; a mismatch raises
    IntegrityError naming the file.
    """
    what = f"{entry.key}"
    with storage.open_reader(entry.key) as raw:
        reader = VerifyingReader(
            raw,
            expected_size=entry.size,
            expected_sha256=entry.sha256,
            what=what,
            progress=progress,
        )
        if not decrypt:
            copy_stream(reader, sink)
            reader.finish()
            return
        target: Any = sink
        decompressor = None
        if entry.compression == "zstd":
            decompressor = compression.DecompressingWriter(sink, what)
            target = decompressor
        if entry.encrypted:
            if not identities:
                raise CryptoError(f"{what} is encrypted and no identity was given")
            try:
                crypto.decrypt_stream(reader, target, identities, what)
            except CryptoError:
                # a corrupted object fails decryption: say so when the checksum agrees
                reader.finish()
                raise
        else:
            copy_stream(reader, target)
        reader.finish()
        if decompressor is not None:
            decompressor.close()
