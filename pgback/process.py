"""The only module that spawns programs.

argv lists, never a shell; secrets travel in the child's environment, never in argv; the tail of
stderr is kept (masked) and attached to the error; a failed stage can kill its siblings.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from pgback.errors import ProcessError

log = logging.getLogger(__name__)

# environment variables never handed to children: they hold our own secrets
_PRIVATE_ENV_PREFIXES = ("PGBACK_", "AWS_", "S3_", "AGE_", "CIPHER_")
_PRIVATE_ENV_NAMES = frozenset({"POSTGRES_PASSWORD"})


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def summary_line(stderr_tail: str) -> str:
    """The line of a program's stderr that says what went wrong.

    Usually the last one, but pg_restore and psql follow their error with context such as
    `Command was: ALTER DATABASE ...`: the last line naming an error is the one to show.
    """
    lines = [line for line in stderr_tail.splitlines() if line.strip()]
    if not lines:
        return "no error output"
    for line in reversed(lines):
        if "error" in line.lower() or "fatal" in line.lower():
            return line.strip()
    return lines[-1].strip()


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment minus our secrets, plus `extra` (e.g. PGPASSWORD for libpq)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_PRIVATE_ENV_PREFIXES) and name not in _PRIVATE_ENV_NAMES
    }
    env.update(extra or {})
    return env


class Child:
    """A running program whose stderr is drained in the background into a bounded tail."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = subprocess.PIPE,
        secrets: Iterable[str] = (),
        tail_lines: int = 20,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = Path(argv[0]).name
        self.argv = list(argv)
        self._secrets = [s for s in secrets if s]
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        log.debug("starting %s", " ".join(self.argv))
        try:
            self.proc = subprocess.Popen(
                self.argv,
                env=dict(env),
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                pass_fds=tuple(pass_fds),
            )
        except OSError as exc:
            raise ProcessError(f"cannot start {self.name}: {exc.strerror}") from None
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = mask(raw.decode("utf-8", "replace").rstrip(), self._secrets)
            if line:
                self._tail.append(line)

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def stderr_tail(self) -> str:
        self._drain.join(timeout=5)
        return "\n".join(self._tail)

    def stderr_lines(self) -> list[str]:
        self._drain.join(timeout=5)
        return list(self._tail)

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def error(self, what: str) -> ProcessError:
        """A ProcessError for a failed run: `what`, exit status, and the last stderr line."""
        code = self.proc.returncode
        tail = self.stderr_tail()
        last = summary_line(tail)
        status = f"exit {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        return ProcessError(
            f"{what}: {self.name} failed ({status}): {last}", returncode=code, stderr_tail=tail
        )

    def check(self, what: str) -> None:
        """Wait, and raise `error(what)` unless the program exited 0."""
        if self.wait() != 0:
            raise self.error(what)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    what: str,
    input_data: bytes | None = None,
    secrets: Iterable[str] = (),
    timeout: float | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run a short program to completion; ProcessError (masked stderr tail) when it fails.
    `pass_fds`: open files the program inherits under the same numbers (/dev/fd/N)."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            input=input_data,
            capture_output=True,
            timeout=timeout,
            pass_fds=tuple(pass_fds),
        )
    except OSError as exc:
        raise ProcessError(f"{what}: cannot start {Path(argv[0]).name}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ProcessError(f"{what}: {Path(argv[0]).name} timed out after {timeout}s") from None
    if done.returncode != 0:
        tail = mask(done.stderr.decode("utf-8", "replace").strip(), secrets)
        last = summary_line(tail)
        raise ProcessError(
            f"{what}: {Path(argv[0]).name} failed (exit {done.returncode}): {last}",
            returncode=done.returncode,
            stderr_tail=tail,
        )
    return done
