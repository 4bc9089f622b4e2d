"""The command line's argparse pieces: one-line errors, the --restore-jobs type, and secrets
given as flags refused before argparse could repeat them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from pgback.config import KEYS
from pgback.text import brief, printable


class OneLineParser(argparse.ArgumentParser):
    """argparse with pgback's one-line errors (no usage block), naming the command."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("pgback").strip()
        where = f"{command}: " if command else ""
        # argparse repeats what was typed: escaped, so that the error stays one line
        self.exit(2, f"pgback: error: {where}{printable(message)} (see `{self.prog} --help`)\n")


_MAX_RESTORE_JOBS = 1000


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """`parser.parse_args`, with unrecognized arguments explained when they follow a flag
    that takes no value (`--encrypt true`: the flag is `--encrypt` or `--no-encrypt`)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        message = f"unrecognized arguments: {' '.join(extras)}"
        at = argv.index(extras[0]) if extras[0] in argv else 0
        before = argv[at - 1] if at > 0 else ""
        if before.startswith("--") and before in _flags_without_value(parser):
            message += f" ({before} takes no value)"
        command = {sub.prog: sub for sub in _subparsers(parser)}.get(
            f"{parser.prog} {getattr(args, 'command', '')}", parser
        )
        command.error(message)
    return args


def _flags_without_value(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for sub in _subparsers(parser)
        for action in sub._actions
        if action.nargs == 0
        for option in action.option_strings
    }


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.values())
    return found


def restore_jobs(text: str) -> int:
    """--restore-jobs: pg_restore -j, a positive number (argparse's int takes -5 and `1_0`)."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _MAX_RESTORE_JOBS:
        raise argparse.ArgumentTypeError(
            f"expected a number of jobs from 1 to {_MAX_RESTORE_JOBS}, got {brief(text)}"
        )
    return int(text)


def secret_flag(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first argument that is a secret's flag (or the start of one): refused before
    argparse, whose error would repeat the value that follows it."""
    options = {option for sub in _subparsers(parser) for option in sub._option_string_actions}
    secret_flags = [spec for spec in KEYS.values() if spec.secret]
    for token in argv:
        if token == "--":
            return None
        name = token.split("=", 1)[0]
        if not name.startswith("--") or len(name) < 5 or name in options:
            continue
        for spec in secret_flags:
            if spec.flag.startswith(name) and not any(o.startswith(name) for o in options):
                return (
                    f"{name}: secrets are never flags (they would show in `ps`): set "
                    f"{spec.env}, or {spec.env}_FILE naming a file that holds it"
                )
    return None
