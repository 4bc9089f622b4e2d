"""age encryption through pyrage, always streaming.

Passphrase mode: pyrage's passphrase API is in-memory only, so each set gets a fresh X25519
identity; every file streams to that identity's recipient, and the identity itself (a few dozen
bytes) is stored passphrase-encrypted as `identity.age`. The age CLI reads such a wrapped
identity directly: `age -d -i identity.age FILE.age` asks for the passphrase.
"""

from __future__ import annotations

import io
from typing import Any

import pyrage
from pyrage import passphrase as age_passphrase
from pyrage import x25519

from pgback.adapters import age_scrypt
from pgback.errors import ConfigError, CryptoError


def parse_recipients(keys: tuple[str, ...] | list[str]) -> list[Any]:
    recipients: list[Any] = []
    problems: list[str] = []
    for key in keys:
        try:
            recipients.append(x25519.Recipient.from_str(key.strip()))
        except Exception:
            problems.append(f"cipher_public_key {key[:16]!r}...: not a valid age recipient")
    if problems:
        raise ConfigError(problems)
    return recipients


def parse_identities(text: str) -> list[Any]:
    """Identities from an identity file's text (comments and blank lines allowed)."""
    identities: list[Any] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception:
            # never echo the line: it is a secret
            raise CryptoError(
                "cipher_private_key holds a line that is not an age identity (AGE-SECRET-KEY-...)"
            ) from None
    if not identities:
        raise CryptoError("cipher_private_key holds no age identity (AGE-SECRET-KEY-...)")
    return identities


def new_identity() -> tuple[str, str]:
    """(identity, recipient) strings of a fresh X25519 key pair."""
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def wrap_identity(identity: str, passphrase: str) -> bytes:
    """The identity as an age file encrypted with the passphrase (scrypt)."""
    try:
        wrapped: bytes = age_passphrase.encrypt((identity + "\n").encode(), passphrase)
    except pyrage.EncryptError as exc:
        raise CryptoError(f"cannot encrypt the set's identity with the passphrase: {exc}") from None
    return wrapped


def unwrap_identity(wrapped: bytes, passphrase: str) -> list[Any]:
    try:
        plain: bytes = age_passphrase.decrypt(wrapped, passphrase)
    except pyrage.DecryptError:
        raise CryptoError(
            "wrong passphrase: identity.age does not decrypt with cipher_pass"
        ) from None
    return parse_identities(plain.decode())


class _Relay:
    """Passes reads and writes through, keeping any exception the stream itself raised.

    pyrage turns an exception raised by our reader or writer into its own error type: the
    cause (the object store went away, the run was cancelled, pg_restore exited) must reach
    the caller as itself, with its exit code, not as an encryption failure.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._inner.read(size)
        except BaseException as exc:
            self.error = exc
            raise
        return data

    def write(self, data: bytes) -> int:
        try:
            written: int = self._inner.write(data)
        except BaseException as exc:
            self.error = exc
            raise
        return written

    def flush(self) -> None:
        flush = getattr(self._inner, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except BaseException as exc:
            self.error = exc
            raise


# pyrage's decryption asks its reader for 8 KiB at a time; each ask went through the sha256
# check to the object store's HTTP body (urllib3, a socket read). A buffer in C between them
# serves pyrage's small reads from 1 MiB ones (docs/benchmark.md, the restore's data phase).
READ_BUFFER = 1024 * 1024


class _RawSource(io.RawIOBase):
    """A _Relay as a raw stream, for io.BufferedReader."""

    def __init__(self, relay: _Relay) -> None:
        super().__init__()
        self._relay = relay

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._relay.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _raise_stream_error(*relays: _Relay) -> None:
    for relay in relays:
        if relay.error is not None:
            raise relay.error


def encrypt_stream(reader: Any, writer: Any, recipients: list[Any]) -> None:
    """Stream reader -> age -> writer (pyrage reads and writes in chunks, GIL released)."""
    source, sink = _Relay(reader), _Relay(writer)
    try:
        pyrage.encrypt_io(source, sink, recipients)
    except (pyrage.EncryptError, OSError) as exc:
        _raise_stream_error(source, sink)
        raise CryptoError(f"age encryption failed: {exc}") from None


def decrypt_stream(reader: Any, writer: Any, identities: list[Any], what: str) -> None:
    if identities and isinstance(identities[0], age_scrypt.PassphraseIdentity):
        # a file encrypted to a passphrase (pg_back's cipher_pass): streamed by age_scrypt
        age_scrypt.decrypt_stream(reader, writer, identities[0], what)
        return
    source, sink = _Relay(reader), _Relay(writer)
    try:
        pyrage.decrypt_io(io.BufferedReader(_RawSource(source), READ_BUFFER), sink, identities)
    except (pyrage.DecryptError, OSError) as exc:
        # pyrage reports a damaged payload as a bare OSError("decryption error")
        _raise_stream_error(source, sink)
        if "No matching keys" in str(exc):
            raise CryptoError(
                f"{what}: none of the given age identities can decrypt it "
                "(wrong cipher_private_key or cipher_pass?)"
            ) from None
        raise CryptoError(
            f"{what}: decryption failed ({exc}): the object may be corrupted or truncated"
        ) from None
