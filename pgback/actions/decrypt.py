"""`pgback decrypt FILE|FOLDER`: age files fetched by other means, decrypted as the age CLI would.

Each `X.age` becomes `X` beside it (or under `--dest`), byte for byte what `age -d` writes,
streamed: `.zst` stays compressed, as it does with the CLI. The identity comes from the file's
header: X25519 recipients need cipher_private_key; a passphrase (pg_back's cipher_pass) needs
cipher_pass; a pgback set in passphrase mode keeps its identity in `identity.age` beside its
files, opened with cipher_pass. A folder is decrypted whole (every `*.age` under it).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgback import naming
from pgback.actions.context import log
from pgback.adapters import crypto
from pgback.adapters.age_scrypt import PassphraseIdentity, stanza_types
from pgback.config import Settings
from pgback.errors import CryptoError, UsageError
from pgback.text import brief


@dataclass(frozen=True)
class Decrypted:
    source: Path
    path: Path


def run_decrypt(
    settings: Settings, given: str | Path, dest: str | Path | None = None
) -> list[Decrypted]:
    if str(given) == "" or (dest is not None and str(dest) == ""):
        raise UsageError("decrypt: an empty path: give an .age file or a folder holding them")
    try:
        return _run(settings, Path(given), dest)
    except OSError as exc:  # a name too long, no permission, a full disk: the file it was about
        where = brief(str(exc.filename if exc.filename else given))
        raise UsageError(f"decrypt: {where}: {exc.strerror or exc}") from None


def _run(settings: Settings, root: Path, dest: str | Path | None) -> list[Decrypted]:
    if not root.exists():
        raise UsageError(f"{root} does not exist: give an .age file or a folder holding them")
    if root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*" + naming.ENCRYPTED_SUFFIX)
            if p.is_file() and p.name != naming.IDENTITY_NAME
        )
        if not files:
            raise UsageError(f"{root} holds no .age file")
        base = root
    else:
        if root.suffix != naming.ENCRYPTED_SUFFIX:
            raise UsageError(f"{root} does not end in .age: it is not an age file to decrypt")
        files, base = [root], root.parent
    plan = []
    for source in files:
        out_dir = Path(dest) / source.parent.relative_to(base) if dest else source.parent
        target = out_dir / source.name.removesuffix(naming.ENCRYPTED_SUFFIX)
        if target.exists():
            raise UsageError(f"{target} already exists: remove it, or choose another --dest")
        plan.append((source, target))
    done = []
    for source, target in plan:
        identities = _identities_for(settings, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        _decrypt_file(source, target, identities)
        log.info("decrypted %s", target)
        done.append(Decrypted(source, target))
    return done


def _identities_for(settings: Settings, path: Path) -> list[Any]:
    with path.open("rb") as handle:
        types = stanza_types(handle.read(4096))
    if not types:
        raise CryptoError(f"{path}: not an age file (no age header)")
    if "scrypt" in types:
        if not settings.cipher_pass:
            raise CryptoError(
                f"{path} is encrypted to a passphrase: set cipher_pass "
                "(PGBACK_CIPHER_PASS or PGBACK_CIPHER_PASS_FILE)"
            )
        return [PassphraseIdentity(settings.cipher_pass.reveal())]
    if settings.cipher_private_key:
        return crypto.parse_identities(settings.cipher_private_key.reveal())
    wrapped = path.parent / naming.IDENTITY_NAME
    if settings.cipher_pass and wrapped.is_file():
        return crypto.unwrap_identity(wrapped.read_bytes(), settings.cipher_pass.reveal())
    raise CryptoError(
        f"{path} is encrypted to age recipients ({', '.join(types)}): set cipher_private_key "
        "(PGBACK_CIPHER_PRIVATE_KEY or its _FILE), or cipher_pass when identity.age is beside it"
    )


def _decrypt_file(source: Path, target: Path, identities: list[Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
    try:
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            crypto.decrypt_stream(reader, writer, identities, str(source))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
