"""Feeding pg_restore a database's archive as it streams from storage, and the indexes built
several at a time without a local file.

`pg_restore -j` needs a seekable file, but of the archive its post-data step (indexes,
constraints, triggers) reads only the table of contents, which pg_dump writes first, before any
row. So for a whole database the first bytes of the stream are kept in an anonymous memory file
(memfd: never on disk) until `pg_restore -l` reads the whole TOC from them; the stream then goes
on into `pg_restore --section=pre-data --section=data` (one connection, as a single pg_restore
would), and once that is done `pg_restore --section=post-data -j N` reads the memory file and
builds the indexes N at a time. pg_restore's documentation describes these three sections as
the whole of a restore. An archive whose TOC does not fit in TOC_LIMIT, a small one, or a
system without memfd restores through one pg_restore, as before.

`--restore-jobs N` (pg_restore -j for the data too) still stages the dump in a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pgback.actions.context import log
from pgback.actions.fetch import stream_plain
from pgback.errors import ProcessError
from pgback.manifest import FileEntry
from pgback.process import Child, run
from pgback.progress import Progress
from pgback.storage.base import Storage

MIB = 1024 * 1024
# the TOC is looked for in the first write (1 MiB), then in twice as much each time, up to this
TOC_LIMIT = 64 * MIB
# smaller stored objects restore through one pg_restore: their indexes take no time to build
SPLIT_MIN_BYTES = 16 * MIB
# pg_restore's stderr kept whole: a restore by a role that is not a superuser is judged on
# every error it printed (one per refused statement), not on the last lines
STDERR_LINES = 100_000


def post_data_jobs() -> int:
    """How many indexes a whole-database restore builds at once: the cores here, at most 4."""
    return min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Runner:
    """How this restore runs pg_restore: its environment, and what judges each finished run."""

    env: Mapping[str, str]
    secrets: tuple[str, ...]
    what: str
    # waits for a run; the statements a role that is not a superuser was refused, or raises
    finish: Callable[[Child], list[str]]

    def start(
        self, argv: list[str], *, stdin: int = subprocess.DEVNULL, pass_fds: tuple[int, ...] = ()
    ) -> Child:
        return Child(
            argv,
            env=self.env,
            stdin=stdin,
            stdout=None,
            secrets=self.secrets,
            tail_lines=STDERR_LINES,
            pass_fds=pass_fds,
        )


@dataclass(frozen=True)
class PostData:
    """The post-data run of a split restore: pg_restore's argv without section nor -j."""

    argv: list[str]
    jobs: int


def restore_from_stream(
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    runner: Runner,
    argv: list[str],
    progress: Progress,
    post: PostData | None,
) -> list[str]:
    """Restore one database from the stream; the refused statements (see Runner.finish)."""
    toc = TocFile.create() if post is not None and entry.size >= SPLIT_MIN_BYTES else None
    try:
        sink = _StreamSink(runner, argv, toc)
        try:
            stream_plain(storage, entry, identities, sink, progress=progress)
            sink.close()
        except BaseException as exc:
            sink.abort(exc)
            raise
        assert sink.child is not None
        refused = runner.finish(sink.child)
        if sink.split and toc is not None and post is not None:
            log.info("%s: indexes, constraints and triggers, %d at a time", runner.what, post.jobs)
            argv = [*post.argv, "--section=post-data", "-j", str(post.jobs), toc.path]
            refused += runner.finish(runner.start(argv, pass_fds=(toc.fd,)))
        return refused
    finally:
        if toc is not None:
            toc.close()


class TocFile:
    """The archive's first bytes in an anonymous memory file, readable by children as a path."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self._closed = False

    @classmethod
    def create(cls) -> TocFile | None:
        make = getattr(os, "memfd_create", None)  # Linux only
        if make is None:
            return None
        try:
            return cls(make("pgback-toc", os.MFD_CLOEXEC))
        except OSError:
            return None

    @property
    def path(self) -> str:
        # the child inherits the descriptor under the same number (pass_fds)
        return f"/dev/fd/{self.fd}" if os.path.isdir("/dev/fd") else f"/proc/self/fd/{self.fd}"

    def add(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
            self.size += written

    def chunks(self) -> Iterator[bytes]:
        offset = 0
        while offset < self.size:
            chunk = os.pread(self.fd, min(MIB, self.size - offset), offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    def complete(self, pg_restore: str, env: Mapping[str, str]) -> bool:
        """Whether pg_restore reads the whole table of contents from what is here."""
        try:
            run(
                [pg_restore, "-l", self.path],
                env=env,
                what="reading the archive's table of contents",
                pass_fds=(self.fd,),
            )
        except ProcessError:
            return False  # cut inside the TOC (or unreadable: the restore itself will say)
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)


class _StreamSink:
    """pg_restore's standard input. With a TocFile, the stream is held there until the TOC is
    complete, then pg_restore starts (for the pre-data and data sections when the TOC fits) and
    gets it all. A partial restore (-n, -t) may finish before the end of the archive and close
    its input: the rest is then still read (its sha256 is checked) and discarded. Had
    pg_restore failed, the broken pipe is raised at once."""

    def __init__(self, runner: Runner, argv: list[str], toc: TocFile | None) -> None:
        self._runner = runner
        self._argv = argv
        self._toc = toc
        self._open = True
        self._next_check = 0
        self.split = False
        self.child: Child | None = None
        if toc is None:
            self._start(argv)

    def write(self, data: bytes) -> int:
        if self.child is None:
            assert self._toc is not None
            self._toc.add(data)
            if self._toc.size >= self._next_check:
                self._decide(final=False)
        else:
            self._feed(data)
        return len(data)

    def flush(self) -> None:
        if self._open and self.child is not None:
            self.child.stdin.flush()

    def close(self) -> None:
        if self.child is None:
            self._decide(final=True)
        assert self.child is not None
        with contextlib.suppress(BrokenPipeError):
            self.child.stdin.close()

    def abort(self, exc: BaseException) -> None:
        """The stream failed: when pg_restore stopped first, our write failed because of it and
        its error is the cause; any other failure (damaged object, storage) is ours, and
        pg_restore, still waiting for input, is stopped at once."""
        child = self.child
        if child is None:
            return
        if isinstance(exc, OSError):
            code = self._exit_code()
            if code not in (None, 0):
                raise child.error(self._runner.what) from None
        child.kill()

    def _decide(self, *, final: bool) -> None:
        toc = self._toc
        assert toc is not None
        self.split = toc.complete(self._argv[0], self._runner.env)
        if not self.split and not final and toc.size < TOC_LIMIT:
            self._next_check = max(2 * toc.size, MIB)
            return
        argv = [*self._argv, "--section=pre-data", "--section=data"] if self.split else self._argv
        self._start(argv)
        for chunk in toc.chunks():
            self._feed(chunk)

    def _start(self, argv: list[str]) -> None:
        self.child = self._runner.start(argv, stdin=subprocess.PIPE)

    def _feed(self, data: bytes) -> None:
        if not self._open:
            return
        assert self.child is not None
        try:
            self.child.stdin.write(data)
        except BrokenPipeError:
            if self._exit_code() != 0:
                raise
            self._open = False

    def _exit_code(self) -> int | None:
        assert self.child is not None
        try:
            return self.child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None


def restore_from_file(
    storage: Storage,
    entry: FileEntry,
    identities: list[Any],
    runner: Runner,
    argv: list[str],
    progress: Progress,
    jobs: int,
) -> list[str]:
    """`pg_restore -j N` cannot read standard input: the plain dump is staged in a temporary
    file, removed on exit."""
    with tempfile.NamedTemporaryFile(prefix="pgback-restore-", suffix=".dump") as staged:
        stream_plain(storage, entry, identities, staged, progress=progress)
        staged.flush()
        return runner.finish(runner.start([*argv, "-j", str(jobs), staged.name]))
