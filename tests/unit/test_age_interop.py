"""`pgback decrypt` and the passphrase stream decryptor against the real age CLI."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from pyrage import x25519
from support import run_cli

from pgback.adapters.age_scrypt import PassphraseIdentity, decrypt_stream
from pgback.errors import CryptoError
from pgback.testbed import agecli

pytestmark = pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is not installed")

PASSPHRASE = "correct horse battery staple"
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def passphrase_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, Path]]:
    """Plain contents and their age -p encryption: empty, exactly two chunks, and several
    chunks and a bit (each costs the CLI's scrypt, about 2 s of a core: kept few)."""
    folder = tmp_path_factory.mktemp("age")
    files = {}
    for name, size in {
        "empty": 0,
        "two": 2 * CHUNK,
        "many": 3 * CHUNK + 7,
    }.items():
        plain = os.urandom(size)
        (folder / name).write_bytes(plain)
        agecli.encrypt_to_passphrase(folder / name, folder / f"{name}.age", PASSPHRASE)
        files[name] = (plain, folder / f"{name}.age")
    return files


@pytest.mark.parametrize("name", ["empty", "two", "many"])
def test_decrypt_stream_of_age_cli_passphrase_files_gives_the_plain_bytes(
    passphrase_files: dict[str, tuple[bytes, Path]], name: str
) -> None:
    plain, encrypted = passphrase_files[name]
    out = io.BytesIO()

    with encrypted.open("rb") as reader:
        decrypt_stream(reader, out, PassphraseIdentity(PASSPHRASE), name)

    assert out.getvalue() == plain


@pytest.mark.parametrize("cut", [1, CHUNK + 16])
def test_decrypt_stream_truncated_passphrase_file_is_refused(
    passphrase_files: dict[str, tuple[bytes, Path]], cut: int
) -> None:
    data = passphrase_files["many"][1].read_bytes()

    with pytest.raises(CryptoError, match="truncated"):
        decrypt_stream(io.BytesIO(data[:-cut]), io.BytesIO(), PassphraseIdentity(PASSPHRASE), "x")


def test_decrypt_stream_altered_payload_is_refused(
    passphrase_files: dict[str, tuple[bytes, Path]],
) -> None:
    data = bytearray(passphrase_files["many"][1].read_bytes())
    data[-100] ^= 1

    with pytest.raises(CryptoError, match="corrupted or truncated"):
        decrypt_stream(io.BytesIO(bytes(data)), io.BytesIO(), PassphraseIdentity(PASSPHRASE), "x")


def test_cli_decrypt_passphrase_file_matches_the_age_cli(
    passphrase_files: dict[str, tuple[bytes, Path]], tmp_path: Path
) -> None:
    encrypted = shutil.copy(passphrase_files["many"][1], tmp_path / "dump.sql.age")
    agecli.decrypt_with_passphrase(Path(encrypted), tmp_path / "by-age-cli", PASSPHRASE)

    done = run_cli({"PGBACK_CIPHER_PASS": PASSPHRASE}, "decrypt", str(encrypted))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "dump.sql")
    assert (tmp_path / "dump.sql").read_bytes() == (tmp_path / "by-age-cli").read_bytes()
    assert PASSPHRASE not in done.stdout + done.stderr


def test_cli_decrypt_folder_of_recipient_files_matches_the_age_cli(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(identity) + "\n")
    source = tmp_path / "fetched"
    (source / "sub").mkdir(parents=True)
    for name in ("a.dump", "sub/b.out"):
        (tmp_path / "plain").mkdir(exist_ok=True)
        plain = tmp_path / "plain" / Path(name).name
        plain.write_bytes(os.urandom(100_000))
        agecli.encrypt_to_recipient(plain, source / f"{name}.age", str(identity.to_public()))
    dest = tmp_path / "out"

    done = run_cli(
        {"PGBACK_CIPHER_PRIVATE_KEY_FILE": str(key_file)},
        "decrypt",
        str(source),
        "--dest",
        str(dest),
    )

    assert done.returncode == 0, done.stderr
    for name in ("a.dump", "sub/b.out"):
        agecli.decrypt_with_identity(source / f"{name}.age", tmp_path / "cli", key_file)
        assert (dest / name).read_bytes() == (tmp_path / "cli").read_bytes(), name
        (tmp_path / "cli").unlink()


@pytest.mark.parametrize(
    ("env", "message", "code"),
    [
        ({"PGBACK_CIPHER_PASS": "wrong"}, "wrong passphrase (check cipher_pass)", 6),
        ({}, "is encrypted to a passphrase: set cipher_pass", 6),
    ],
)
def test_cli_decrypt_without_the_right_secret_fails_in_one_line_leaving_nothing(
    passphrase_files: dict[str, tuple[bytes, Path]],
    tmp_path: Path,
    env: dict[str, str],
    message: str,
    code: int,
) -> None:
    encrypted = shutil.copy(passphrase_files["two"][1], tmp_path / "x.age")

    done = run_cli(env, "decrypt", str(encrypted))

    assert done.returncode == code
    errors = [line for line in done.stderr.splitlines() if line.startswith("pgback: error:")]
    assert len(errors) == 1 and message in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.age"]


def test_cli_decrypt_refuses_to_overwrite_and_non_age_names(tmp_path: Path) -> None:
    (tmp_path / "a.age").write_bytes(b"age-encryption.org/v1\n")
    (tmp_path / "a").write_text("mine")
    (tmp_path / "b.txt").write_text("x")

    overwrite = run_cli({}, "decrypt", str(tmp_path / "a.age"))
    not_age = run_cli({}, "decrypt", str(tmp_path / "b.txt"))

    assert overwrite.returncode == 2 and "already exists" in overwrite.stderr
    assert not_age.returncode == 2 and "does not end in .age" in not_age.stderr
    assert (tmp_path / "a").read_text() == "mine"
