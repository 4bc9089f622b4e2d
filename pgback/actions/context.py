"""Turning Settings into the engine's parts: connection, client programs, decryption keys."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pgback.adapters import crypto
from pgback.adapters.age_scrypt import PassphraseIdentity
from pgback.adapters.postgres import ConnParams
from pgback.config import Settings
from pgback.errors import CryptoError
from pgback.manifest import KIND_IDENTITY, Manifest
from pgback.storage.base import Storage

log = logging.getLogger("pgback")

T = TypeVar("T")


class Soon(Generic[T]):
    """`fn(*args)` started at once in a thread; `result()` waits for it and returns its value
    or raises its exception. A command does a server's round trips this way while it is busy
    with something else (importing and setting up the S3 client). The thread is a daemon: a
    server that does not answer must not hold up the exit after another error."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., T], *args: Any) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def utc_now() -> datetime:
    """The engine's clock; freezegun moves it in scenarios and tests."""
    return datetime.now(UTC)


def conn_params(settings: Settings) -> ConnParams:
    return ConnParams(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        dbname=settings.dbname,
        password=settings.password,
    )


def decryption_identities(settings: Settings, storage: Storage, manifest: Manifest) -> list[Any]:
    """The identities that open this set, or CryptoError saying which setting is missing."""
    mode = manifest.encryption.mode
    if mode == "x25519":
        if not settings.cipher_private_key:
            raise CryptoError(
                f"set {manifest.set_id} is encrypted to age recipients: "
                "set cipher_private_key (PGBACK_CIPHER_PRIVATE_KEY or its _FILE)"
            )
        return crypto.parse_identities(settings.cipher_private_key.reveal())
    if mode == "scrypt":  # pg_back's cipher_pass: every file encrypted to the passphrase
        if not settings.cipher_pass:
            raise CryptoError(
                f"set {manifest.set_id} is encrypted to a passphrase (pg_back's cipher_pass): "
                "set cipher_pass (PGBACK_CIPHER_PASS or PGBACK_CIPHER_PASS_FILE)"
            )
        return [PassphraseIdentity(settings.cipher_pass.reveal())]
    if mode == "passphrase":
        if not settings.cipher_pass:
            raise CryptoError(
                f"set {manifest.set_id} is passphrase-encrypted: set cipher_pass "
                "(PGBACK_CIPHER_PASS or PGBACK_CIPHER_PASS_FILE)"
            )
        entry = manifest.file(KIND_IDENTITY)
        if entry is None:
            raise CryptoError(f"set {manifest.set_id}: identity.age is missing from the manifest")
        return crypto.unwrap_identity(storage.get_bytes(entry.key), settings.cipher_pass.reveal())
    return []
