"""Streaming decryption of age files encrypted to a passphrase (age's scrypt recipient), the
way pg_back encrypts with `cipher_pass`.

pyrage decrypts passphrase files in memory only, and a pg_back dump can be many gigabytes.
The age format is a published specification (age-encryption.org/v1): this module reads the
header, derives the wrapping key with scrypt (hashlib), unwraps the file key and checks the
header's MAC, then decrypts the payload's 64 KiB chunks (ChaCha20-Poly1305 in age's STREAM
construction) as they arrive, with the primitives of `cryptography`. Every chunk is
authenticated, and the last one carries a flag, so truncation is detected. Files encrypted
to X25519 recipients stay with pyrage. The tests check this module against the age CLI.
`cryptography` is imported by the functions that use it: every restore imports this module
(PassphraseIdentity), few read a passphrase-encrypted file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from pgback.errors import CryptoError

VERSION_LINE = b"age-encryption.org/v1\n"
_SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
_CHUNK = 64 * 1024
_TAG = 16
_MAX_HEADER = 64 * 1024
# pg_back and the age CLI write work factor 18 (256 MiB); hashlib's scrypt takes at most 2 GiB
# of memory (work factor 20), short of the CLI's limit of 22
MAX_WORK_FACTOR = 20


class PassphraseIdentity:
    """The identity of passphrase-encrypted files; repr never shows the passphrase."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase

    def __repr__(self) -> str:
        return "PassphraseIdentity(***)"

    def reveal(self) -> bytes:
        return self._passphrase.encode()


def stanza_types(head: bytes) -> list[str]:
    """The recipient types of an age header (`X25519`, `scrypt`...) from its first bytes."""
    if not head.startswith(VERSION_LINE):
        return []
    types = []
    for line in head.split(b"\n")[1:]:
        if line.startswith(b"---"):
            break
        if line.startswith(b"-> "):
            parts = line[3:].split(b" ")
            types.append(parts[0].decode("ascii", "replace"))
    return types


def _b64(text: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise CryptoError(f"{what}: not an age file (bad base64 in its header)") from None


def _read_header(reader: Any, what: str) -> tuple[bytes, bytes, bytes]:
    """(header up to and including `---`, its MAC, the bytes read past the header)."""
    data = b""
    while b"\n--- " not in data or not data.split(b"\n--- ", 1)[1].count(b"\n"):
        piece = reader.read(4096)
        if not piece:
            raise CryptoError(f"{what}: not an age file, or its header is truncated")
        data += piece
        if len(data) > _MAX_HEADER and b"\n--- " not in data:
            raise CryptoError(f"{what}: not an age file (no header end in {_MAX_HEADER} bytes)")
    if not data.startswith(VERSION_LINE):
        raise CryptoError(f"{what}: not an age file (it does not start with age's version line)")
    cut = data.index(b"\n--- ") + 4  # `---` included: what the MAC covers
    end = data.index(b"\n", cut)
    return data[:cut], _b64(data[cut + 1 : end], what), data[end + 1 :]


def _file_key(header: bytes, passphrase: bytes, what: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    lines = header.split(b"\n")[1:-1]  # between the version line and `---`
    stanzas: list[tuple[list[bytes], bytes]] = []
    for line in lines:
        if line.startswith(b"-> "):
            stanzas.append((line[3:].split(b" "), b""))
        elif stanzas:
            args, body = stanzas[-1]
            stanzas[-1] = (args, body + line)
    scrypt = [s for s in stanzas if s[0] and s[0][0] == b"scrypt"]
    if not scrypt:
        kinds = ", ".join(s[0][0].decode("ascii", "replace") for s in stanzas if s[0])
        raise CryptoError(
            f"{what}: encrypted to age recipients ({kinds or 'none'}), not to a passphrase: "
            "set cipher_private_key"
        )
    if len(stanzas) != 1 or len(scrypt[0][0]) != 3:
        raise CryptoError(f"{what}: a passphrase-encrypted age file has one scrypt stanza")
    args, body = scrypt[0]
    salt = _b64(args[1], what)
    if not args[2].isdigit() or (len(args[2]) > 1 and args[2].startswith(b"0")):
        raise CryptoError(f"{what}: bad scrypt work factor in its age header")
    work = int(args[2])
    if work > MAX_WORK_FACTOR or work < 1:
        raise CryptoError(
            f"{what}: scrypt work factor {work} is outside 1-{MAX_WORK_FACTOR}, which pgback reads"
        )
    key = hashlib.scrypt(
        passphrase,
        salt=_SCRYPT_LABEL + salt,
        n=2**work,
        r=8,
        p=1,
        maxmem=min(2**31 - 1, 1024 * 2**work + 2**20),  # scrypt needs 128 * r * N bytes
        dklen=32,
    )
    try:
        return ChaCha20Poly1305(key).decrypt(b"\0" * 12, _b64(body, what), None)
    except InvalidTag:
        raise CryptoError(f"{what}: wrong passphrase (check cipher_pass)") from None


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def _read_exact(reader: Any, size: int, pending: bytearray) -> bytes:
    while len(pending) < size:
        piece = reader.read(size - len(pending))
        if not piece:
            break
        pending += piece
    out = bytes(pending[:size])
    del pending[:size]
    return out


def decrypt_stream(reader: Any, writer: Any, identity: PassphraseIdentity, what: str) -> None:
    """Stream a passphrase-encrypted age file from `reader` to `writer`, chunk by chunk."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    header, mac, rest = _read_header(reader, what)
    file_key = _file_key(header, identity.reveal(), what)
    expected = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise CryptoError(f"{what}: its age header was altered (MAC mismatch)")
    pending = bytearray(rest)
    nonce = _read_exact(reader, 16, pending)
    if len(nonce) != 16:
        raise CryptoError(f"{what}: truncated: no payload after the age header")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    counter = 0
    chunk = _read_exact(reader, _CHUNK + _TAG, pending)
    while True:
        following = (
            _read_exact(reader, _CHUNK + _TAG, pending) if len(chunk) == _CHUNK + _TAG else b""
        )
        last = not following
        if len(chunk) < _TAG or (last and counter > 0 and len(chunk) == _TAG):
            raise CryptoError(f"{what}: decryption failed: the age payload is truncated")
        chunk_nonce = counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        try:
            writer.write(aead.decrypt(chunk_nonce, chunk, None))
        except InvalidTag:
            raise CryptoError(
                f"{what}: decryption failed: the age payload is corrupted or truncated"
            ) from None
        if last:
            return
        counter += 1
        chunk = following
