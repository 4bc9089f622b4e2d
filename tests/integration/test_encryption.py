"""Encryption with age: X25519 recipients and passphrase mode, and interop with the `age` CLI."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyrage import x25519
from support import (
    SOURCE_ROLES,
    assert_databases_identical,
    make_pgback_env,
    restore_to,
    user_databases,
)

from pgback.actions.backup import run_backup
from pgback.actions.download import run_download
from pgback.actions.restore import run_restore
from pgback.config import Settings, load_settings
from pgback.errors import CryptoError
from pgback.manifest import KIND_GLOBALS, KIND_IDENTITY, Manifest
from pgback.testbed import PostgresServer, S3Server

pytestmark = pytest.mark.integration

SettingsFor = Callable[..., Settings]
AGE_HEADER = b"age-encryption.org/v1\n"
PASSPHRASE = "correct horse battery staple"
SUBSET = ["my db", "ünïcødé ✓ データ"]


@dataclass(frozen=True)
class AgeKey:
    identity_file: Path  # as written by age-keygen: comments, then AGE-SECRET-KEY-...
    recipient: str


@pytest.fixture(scope="session")
def age_cli() -> str:
    """The `age` command-line tool (Debian's package), installed when missing and possible."""
    if shutil.which("age") is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "age"], capture_output=True, timeout=300)
    path = shutil.which("age")
    if path is None or shutil.which("age-keygen") is None:
        pytest.skip("the age CLI is not installed and `apt-get install -y age` failed")
    return path


def age_keygen(directory: Path, name: str) -> AgeKey:
    path = directory / name
    done = subprocess.run(
        ["age-keygen", "-o", str(path)], capture_output=True, text=True, check=True
    )
    recipient = done.stderr.strip().rsplit(" ", 1)[-1]
    assert recipient.startswith("age1")
    return AgeKey(path, recipient)


def pyrage_key() -> tuple[str, str]:
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def stored_objects(s3: S3Server, bucket: str) -> dict[str, bytes]:
    client = s3.client()
    return {
        key: client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in s3.list_keys(bucket)
    }


def roles_on(server: PostgresServer) -> set[str]:
    rows = server.query(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(SOURCE_ROLES),)
    )
    return {str(row[0]) for row in rows}


def pg_restore_list(server: PostgresServer, dump: Path) -> str:
    done = subprocess.run(
        [str(server.bindir / "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


# --- X25519 recipients -------------------------------------------------------------------------


def test_backup_two_recipients_restore_with_either_identity_gives_identical_data(
    pg: PostgresServer,
    pg_target: PostgresServer,
    s3: S3Server,
    bucket: str,
    settings_for: SettingsFor,
    tmp_path: Path,
) -> None:
    first_identity, first = pyrage_key()
    second_identity, second = pyrage_key()
    key_file = tmp_path / "second.key"
    key_file.write_text(f"# the second key\n{second_identity}\n")
    settings = settings_for(
        bucket,
        jobs=2,
        encrypt=True,
        cipher_public_key=[first, second],
        cipher_private_key_file=key_file,
    )

    backup = run_backup(settings)
    result = run_restore(settings, "latest", restore_to(pg_target))

    assert backup.manifest.encryption.mode == "x25519"
    assert backup.manifest.encryption.recipients == (first, second)
    assert sorted(result.databases) == sorted(backup.manifest.databases)
    assert_databases_identical(pg, pg_target, backup.manifest.databases)
    assert roles_on(pg_target) == set(SOURCE_ROLES)
    objects = stored_objects(s3, bucket)
    for key, data in objects.items():
        if key.endswith("manifest.json"):
            assert first_identity not in data.decode() and second_identity not in data.decode()
        else:
            assert key.endswith(".zst.age") and data.startswith(AGE_HEADER), key
    globals_entry = backup.manifest.file(KIND_GLOBALS)
    assert globals_entry is not None and b"alice" not in objects[globals_entry.key]


def test_restore_wrong_identity_fails_clearly_and_leaves_target_untouched(
    pg: PostgresServer,
    pg_target: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
) -> None:
    _, recipient = pyrage_key()
    other_identity, _ = pyrage_key()
    run_backup(settings_for(bucket, encrypt=True, cipher_public_key=recipient, include_dbs="app"))
    settings = settings_for(bucket, cipher_private_key=other_identity)

    with pytest.raises(CryptoError, match="none of the given age identities can decrypt"):
        run_restore(settings, "latest", restore_to(pg_target))

    assert user_databases(pg_target) == {"postgres"}
    assert roles_on(pg_target) == set()


def test_restore_encrypted_set_without_identity_names_the_missing_setting(
    pg: PostgresServer, pg_target: PostgresServer, bucket: str, settings_for: SettingsFor
) -> None:
    _, recipient = pyrage_key()
    backup = run_backup(
        settings_for(bucket, encrypt=True, cipher_public_key=recipient, include_dbs="app")
    )

    with pytest.raises(CryptoError) as caught:
        run_restore(settings_for(bucket), backup.set_id, restore_to(pg_target))

    assert "cipher_private_key" in str(caught.value)
    assert user_databases(pg_target) == {"postgres"}


def test_age_cli_decrypts_every_file_uploaded_for_its_recipient(
    age_cli: str,
    pg: PostgresServer,
    bucket: str,
    settings_for: SettingsFor,
    tmp_path: Path,
) -> None:
    key = age_keygen(tmp_path, "age.key")
    settings = settings_for(
        bucket, encrypt=True, cipher_public_key=key.recipient, include_dbs=SUBSET
    )
    manifest = run_backup(settings).manifest
    stored = tmp_path / "stored"
    downloaded = {item.entry.name: item for item in run_download(settings, "latest", stored)}
    plain = tmp_path / "plain"
    plain.mkdir()

    outputs: dict[str, Path] = {}
    for entry in manifest.files:
        source = downloaded[entry.name].path
        assert source.name.endswith(".zst.age")
        compressed = plain / source.name.removesuffix(".age")
        subprocess.run(
            [age_cli, "-d", "-i", str(key.identity_file), "-o", str(compressed), str(source)],
            check=True,
        )
        output = compressed.with_suffix("")
        subprocess.run(["zstd", "-q", "-d", str(compressed), "-o", str(output)], check=True)
        outputs[entry.name] = output

    globals_sql = outputs["pg_globals.sql"].read_text()
    assert "CREATE ROLE alice;" in globals_sql
    assert "shared_buffers" in outputs["pg_settings.out"].read_text()
    for name in SUBSET:
        listing = pg_restore_list(pg, outputs[name])
        assert "TABLE DATA public items" in listing, name


# --- passphrase mode ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PassphraseSet:
    bucket: str
    manifest: Manifest
    env: dict[str, str]

    def settings(self, **overrides: str) -> Settings:
        return load_settings(env={**self.env, **overrides})


@pytest.fixture(scope="module")
def passphrase_set(
    pg: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PassphraseSet]:
    """One passphrase-encrypted set shared by this module's tests (scrypt costs seconds)."""
    bucket = f"pgback-pass-{os.getpid()}-{time.monotonic_ns()}"
    s3.create_bucket(bucket)
    env = make_pgback_env(
        pg,
        s3,
        tmp_path_factory.mktemp("state"),
        bucket,
        encrypt=True,
        cipher_pass=PASSPHRASE,
        include_dbs=SUBSET,
    )
    manifest = run_backup(load_settings(env=env)).manifest
    yield PassphraseSet(bucket, manifest, env)


def test_backup_passphrase_mode_stores_a_wrapped_identity_and_encrypted_files(
    passphrase_set: PassphraseSet, s3: S3Server
) -> None:
    manifest = passphrase_set.manifest
    objects = stored_objects(s3, passphrase_set.bucket)

    assert manifest.encryption.mode == "passphrase"
    identity = manifest.file(KIND_IDENTITY)
    assert identity is not None and identity.key.endswith("/identity.age")
    assert objects[identity.key].startswith(AGE_HEADER)
    assert b"scrypt" in objects[identity.key].split(b"\n---", 1)[0]
    for entry in manifest.files:
        assert objects[entry.key].startswith(AGE_HEADER), entry.key
    manifest_text = next(v for k, v in objects.items() if k.endswith("manifest.json")).decode()
    assert PASSPHRASE not in manifest_text and "AGE-SECRET-KEY" not in manifest_text


def test_restore_passphrase_set_with_the_passphrase_gives_identical_data(
    passphrase_set: PassphraseSet, pg: PostgresServer, pg_target: PostgresServer
) -> None:
    result = run_restore(passphrase_set.settings(), "latest", restore_to(pg_target))

    assert sorted(result.databases) == sorted(SUBSET)
    assert_databases_identical(pg, pg_target, SUBSET)
    assert roles_on(pg_target) == set(SOURCE_ROLES)


def test_restore_passphrase_set_with_a_wrong_passphrase_is_refused(
    passphrase_set: PassphraseSet, pg_target: PostgresServer
) -> None:
    settings = passphrase_set.settings(PGBACK_CIPHER_PASS="not the passphrase")

    with pytest.raises(CryptoError, match="wrong passphrase"):
        run_restore(settings, "latest", restore_to(pg_target))

    assert user_databases(pg_target) == {"postgres"}


def _age_decrypt_on_a_tty(
    age: str, identity: Path, source: Path, output: Path, passphrase: str
) -> str:
    """Run `age -d -i identity.age -o output source`, typing the passphrase at its prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: age reads the passphrase from its controlling terminal
        try:
            os.execv(age, [age, "-d", "-i", str(identity), "-o", str(output), str(source)])
        finally:
            os._exit(127)
    transcript = b""
    deadline = time.monotonic() + 60
    try:
        while b"passphrase" not in transcript.lower():
            assert time.monotonic() < deadline, f"age never asked: {transcript!r}"
            transcript += os.read(fd, 1024)
        os.write(fd, passphrase.encode() + b"\n")
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            transcript += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    return transcript.decode(errors="replace")


def test_age_cli_decrypts_a_passphrase_set_through_its_identity_file(
    age_cli: str, passphrase_set: PassphraseSet, pg: PostgresServer, tmp_path: Path
) -> None:
    stored = tmp_path / "stored"
    files = {
        item.entry.name: item.path
        for item in run_download(passphrase_set.settings(), "latest", stored)
    }
    dump_name = SUBSET[0]
    compressed = tmp_path / "db.dump.zst"

    prompt = _age_decrypt_on_a_tty(
        age_cli, files["identity.age"], files[dump_name], compressed, PASSPHRASE
    )

    assert "identity.age" in prompt
    plain = tmp_path / "db.dump"
    subprocess.run(["zstd", "-q", "-d", str(compressed), "-o", str(plain)], check=True)
    assert "TABLE DATA public items" in pg_restore_list(pg, plain)
