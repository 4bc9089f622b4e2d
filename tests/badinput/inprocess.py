"""`pgback ARGS` run inside the test process, as a real process would run it, only faster.

The command line is `pgback.main.run` (the console script's own entry point) with exactly the
given environment in `os.environ` (libpq, boto3 and child programs read it from there), the
given working directory, and stdout/stderr as a real process has them: UTF-8, stdout strict as
under a UTF-8 locale, stderr with backslash escapes (Python's own choice for stderr). A
`SystemExit` is an exit code, as it would be; any other exception escaping `run` is what a real
process would print as a traceback, and is recorded as one. `tests/badinput/test_faithful.py`
checks a sample of cases against real subprocesses.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pgback.main

ERROR_PREFIX = "pgback: error: "
TRACEBACK = "Traceback (most recent call last):"
# a log line: `2026-01-02T03:04:05Z WARNING ...` (text) or a JSON object (log_format json)
_LOG_LEVELS = (" DEBUG ", " INFO ", " WARNING ", " ERROR ", " CRITICAL ")


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def problems(self) -> list[str]:
        """What the error says: its one line, or each line of a list of problems."""
        lines = self.error_lines
        if not lines:
            return []
        first = lines[0][len(ERROR_PREFIX) :]
        items = [line[4:] for line in self.stderr.splitlines() if line.startswith("  - ")]
        if first.endswith("configuration problems:") and items:
            return items
        return [first]

    @property
    def other_stderr(self) -> list[str]:
        """stderr lines that are neither the error nor a log line (a usage block, a
        traceback, a stray print)."""
        odd = []
        for line in self.stderr.splitlines():
            if line.startswith((ERROR_PREFIX, "  - ")) or _is_log_line(line):
                continue
            odd.append(line)
        return odd

    def describe(self) -> str:
        return (
            f"pgback {' '.join(map(repr, self.argv))}\nexit {self.code}\n--- stdout\n"
            f"{self.stdout[:3000]}\n--- stderr\n{self.stderr[:3000]}"
        )


def _is_log_line(line: str) -> bool:
    if line.startswith("{") and '"level"' in line:
        return True
    head = line[:40]
    return (
        len(line) > 21
        and line[4] == "-"
        and line[19] == "Z"
        and any(level in head for level in _LOG_LEVELS)
    )


def run_pgback(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Outcome:
    """`pgback ARGV` in this process with exactly `env` as its environment, in `cwd`."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    stderr = io.TextIOWrapper(
        err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True
    )
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdout, sys.stderr
    saved_handlers = list(logging.getLogger("pgback").handlers)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdout, sys.stderr = stdout, stderr
    try:
        try:
            code = pgback.main.run(list(argv))
        except SystemExit as exc:
            code = _exit_code(exc, stderr)
        except BaseException:  # a real process would die with this traceback
            traceback.print_exc(file=stderr)
            code = 1
        stdout.flush()
        stderr.flush()
    finally:
        sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        logging.getLogger("pgback").handlers[:] = saved_handlers
    return Outcome(
        tuple(argv),
        code,
        out_bytes.getvalue().decode("utf-8", "replace"),
        err_bytes.getvalue().decode("utf-8", "replace"),
    )


def _exit_code(exc: SystemExit, stderr: io.TextIOWrapper) -> int:
    """The status `sys.exit(x)` gives a process: None is 0, a string is printed and is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=stderr)
    return 1


def run_subprocess(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Outcome:
    """The same, as a real `python -m pgback` process (the console script's entry), under a
    UTF-8 locale whose stdout is strict (PYTHONIOENCODING), the strictest a user may have."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "pgback", *argv],
        env={**env, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
        cwd=cwd,
        capture_output=True,
        timeout=120,
    )
    return Outcome(
        tuple(argv),
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
