"""The restore's decryption stream (adapters.crypto.decrypt_stream) with pyrage, real age."""

from __future__ import annotations

import io
import os

import pytest
from pyrage import x25519

from pgback.adapters import crypto
from pgback.errors import CryptoError, IntegrityError

MIB = 1024 * 1024


class CountingReader:
    """The stored object as the restore reads it; counts how it is asked."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self._inner = io.BytesIO(data)
        self.reads = 0
        self._fail_after = fail_after

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self._fail_after is not None and self._inner.tell() >= self._fail_after:
            raise IntegrityError("db.dump.zst.age: sha256 differs from the manifest")
        return self._inner.read(size)


@pytest.fixture(scope="module")
def encrypted() -> tuple[x25519.Identity, bytes, bytes]:
    identity = x25519.Identity.generate()
    plain = os.urandom(6 * MIB)
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(plain), out, [identity.to_public()])
    return identity, plain, out.getvalue()


def test_the_object_is_read_in_big_pieces(encrypted: tuple[x25519.Identity, bytes, bytes]) -> None:
    # pyrage asks for 8 KiB at a time: 6 MiB would be about 770 reads of the HTTP body
    identity, plain, data = encrypted
    source, out = CountingReader(data), io.BytesIO()
    crypto.decrypt_stream(source, out, [identity], "db.dump.age")
    assert out.getvalue() == plain
    assert source.reads <= len(data) // crypto.READ_BUFFER + 3


def test_the_readers_own_error_reaches_the_caller(
    encrypted: tuple[x25519.Identity, bytes, bytes],
) -> None:
    identity, _, data = encrypted
    with pytest.raises(IntegrityError, match="sha256 differs"):
        crypto.decrypt_stream(
            CountingReader(data, fail_after=2 * MIB), io.BytesIO(), [identity], "x"
        )


def test_a_damaged_payload_is_a_decryption_error(
    encrypted: tuple[x25519.Identity, bytes, bytes],
) -> None:
    identity, _, data = encrypted
    damaged = bytearray(data)
    damaged[3 * MIB] ^= 0xFF
    with pytest.raises(CryptoError, match=r"db\.dump\.age: decryption failed"):
        crypto.decrypt_stream(io.BytesIO(bytes(damaged)), io.BytesIO(), [identity], "db.dump.age")


def test_a_stranger_identity_is_named(encrypted: tuple[x25519.Identity, bytes, bytes]) -> None:
    _, _, data = encrypted
    with pytest.raises(CryptoError, match="none of the given age identities"):
        crypto.decrypt_stream(io.BytesIO(data), io.BytesIO(), [x25519.Identity.generate()], "x")
