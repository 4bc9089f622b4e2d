"""The real age CLI, for tests and scenarios that need files made (or read) the way pg_back and
the age tool make them. The CLI reads a passphrase from its terminal only, so passphrase runs
get a pseudo-terminal that answers its prompts."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

from pgback.testbed.common import TestbedError


def age_program(name: str = "age") -> str:
    found = shutil.which(name)
    if not found:
        raise TestbedError(f"the {name} CLI is not installed (Debian: apt-get install age)")
    return found


def encrypt_to_recipient(src: Path, dst: Path, recipient: str) -> None:
    subprocess.run([age_program(), "-r", recipient, "-o", str(dst), str(src)], check=True)


def decrypt_with_identity(src: Path, dst: Path, identity_file: Path) -> None:
    subprocess.run(
        [age_program(), "-d", "-i", str(identity_file), "-o", str(dst), str(src)], check=True
    )


def encrypt_to_passphrase(src: Path, dst: Path, passphrase: str) -> None:
    _with_terminal([age_program(), "-p", "-o", str(dst), str(src)], passphrase)


def decrypt_with_passphrase(src: Path, dst: Path, passphrase: str) -> None:
    _with_terminal([age_program(), "-d", "-o", str(dst), str(src)], passphrase)


def _with_terminal(argv: list[str], passphrase: str, timeout: float = 120.0) -> None:
    """Run `argv` on a pseudo-terminal, typing the passphrase at each of its prompts."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its controlling terminal (/dev/tty)
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    piece = os.read(fd, 4096)
                except OSError:  # the child closed the terminal: it is done
                    break
                if not piece:
                    break
                output += piece
                prompts = output.lower().count(b"passphrase")
                while answered < prompts and output.rstrip().endswith(b":"):
                    os.write(fd, passphrase.encode() + b"\n")
                    answered += 1
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        shown = output.decode("utf-8", "replace").replace(passphrase, "***").strip()
        raise TestbedError(f"{' '.join(argv[:2])} failed (exit {code}): {shown[-300:]}")
