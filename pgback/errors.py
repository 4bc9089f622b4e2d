"""The error hierarchy. Only `cli` turns these into exit codes and messages."""

from __future__ import annotations


class PgbackError(Exception):
    """A failure the user can act on; `str()` is the one-line message shown to them."""

    exit_code = 1


class ConfigError(PgbackError):
    """Invalid configuration: every problem found, reported at once."""

    exit_code = 2

    def __init__(self, problems: list[str], *, origins: dict[str, str] | None = None) -> None:
        self.problems = list(problems)
        # problem -> where its keys were set, for problems whose text does not say it
        self.origins = dict(origins or {})
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        """Each problem as the command line shows it: with where its keys were set."""
        return [
            f"{problem} [{self.origins[problem]}]" if problem in self.origins else problem
            for problem in self.problems
        ]


class UsageError(PgbackError):
    """A bad command-line argument (unknown set id, missing --target, ...)."""

    exit_code = 2


class NotFoundError(PgbackError):
    """A set, object or bucket that does not exist."""

    exit_code = 3


class IncompleteSetError(PgbackError):
    """A set without its manifest: refused by restore, download and verify."""

    exit_code = 3


class StorageError(PgbackError):
    """The object store failed (unreachable, denied, bucket missing...)."""

    exit_code = 4


class ProcessError(PgbackError):
    """A child program (pg_dump, pg_restore, psql...) failed."""

    exit_code = 5

    def __init__(
        self, message: str, *, returncode: int | None = None, stderr_tail: str = ""
    ) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(message)


class DatabaseError(PgbackError):
    """PostgreSQL refused or could not be reached over SQL."""

    exit_code = 5


class CryptoError(PgbackError):
    """Encryption or decryption failed (wrong identity or passphrase, bad key)."""

    exit_code = 6


class IntegrityError(PgbackError):
    """Stored bytes differ from what the manifest recorded."""

    exit_code = 7
    # what to do, at the end of every integrity message
    hint = ": the stored object is damaged; use another set (`pgback list`)"


class LockedError(PgbackError):
    """Another backup holds the lock."""

    exit_code = 8


class Interrupted(PgbackError):
    """The run was stopped by a signal; nothing partial looks complete."""

    exit_code = 130
