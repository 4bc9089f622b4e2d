"""The command line: the only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pgback import __version__, startup
from pgback.argv import OneLineParser, parse_args, restore_jobs, secret_flag
from pgback.commands import (
    cmd_backup,
    cmd_config,
    cmd_decrypt,
    cmd_doctor,
    cmd_download,
    cmd_health,
    cmd_import_config,
    cmd_list,
    cmd_purge,
    cmd_restore,
    cmd_serve,
    cmd_show,
    cmd_verify,
)
from pgback.config import GROUPS, KEYS, Settings, keys_in, load_settings
from pgback.config.settings import (
    CONNECTION,
    DECRYPTION,
    DUMP,
    ENCRYPTION,
    NOTIFY,
    OUTPUT,
    RETENTION,
    SIDECAR,
    STATE,
    STORAGE,
    TOOLS,
)
from pgback.errors import ConfigError, PgbackError, UsageError
from pgback.logs import setup_logging
from pgback.text import printable

log = logging.getLogger("pgback")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, f"cfg_{name}")
        for name in KEYS
        if getattr(args, f"cfg_{name}", None) is not None
    }
    return load_settings(config_file=args.config, overrides=overrides)


# the settings each command uses: its --help lists only these
_EVERYTHING = GROUPS
_COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "backup": (
        CONNECTION,
        TOOLS,
        DUMP,
        ENCRYPTION,
        DECRYPTION,
        STORAGE,
        RETENTION,
        NOTIFY,
        STATE,
        OUTPUT,
    ),
    "list": (STORAGE, OUTPUT),
    "show": (STORAGE, OUTPUT),
    "purge": (STORAGE, RETENTION, OUTPUT),
    "download": (STORAGE, DECRYPTION, OUTPUT),
    "decrypt": (DECRYPTION, OUTPUT),
    "import-config": (OUTPUT,),
    "restore": (STORAGE, DECRYPTION, TOOLS, OUTPUT),
    "verify": (STORAGE, DECRYPTION, TOOLS, OUTPUT),
    "config": _EVERYTHING,
    "serve": _EVERYTHING,
    "health": (SIDECAR, STATE, OUTPUT),
    "doctor": (CONNECTION, TOOLS, OUTPUT),
}


# the commands that act on one server's sets (`--server NAME`)
_SERVER_COMMANDS = ("backup", "list", "show", "purge", "download", "restore", "verify")


def _add_settings_flags(cmd: argparse.ArgumentParser, groups: tuple[str, ...]) -> None:
    """The settings of these groups as flags, one argument group each. Secrets have none: they
    come from the environment, files or the config file, so they never show in `ps`."""
    cmd.add_argument("--config", default=None, help="TOML configuration file [env PGBACK_CONFIG]")
    for group in GROUPS:
        specs = [s for s in keys_in((group,)) if s.group in groups and not s.secret]
        if not specs:
            continue
        section = cmd.add_argument_group(f"{group} settings")
        for spec in specs:
            help = f"{spec.help} [env {spec.env}]"
            if spec.is_bool and spec.name.startswith("no_"):
                # a negative name: `--no-role-passwords` / `--role-passwords`, not `--no-no-...`
                dest = f"cfg_{spec.name}"
                section.add_argument(
                    spec.flag, dest=dest, action="store_const", const=True, help=help
                )
                positive = "--" + spec.name.removeprefix("no_").replace("_", "-")
                section.add_argument(positive, dest=dest, action="store_const", const=False)
            elif spec.is_bool:
                section.add_argument(
                    spec.flag,
                    dest=f"cfg_{spec.name}",
                    default=None,
                    action=argparse.BooleanOptionalAction,
                    help=help,
                )
            else:
                section.add_argument(
                    spec.flag, dest=f"cfg_{spec.name}", default=None, metavar="VALUE", help=help
                )


def _secrets_note(groups: tuple[str, ...]) -> str:
    names = [spec.env for spec in keys_in(groups) if spec.secret]
    if not names:
        return ""
    return (
        " Secrets are never flags (they would show in `ps`): "
        + ", ".join(names)
        + ", each also as NAME_FILE."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pgback",
        description="Logical PostgreSQL backups as grouped, encrypted backup sets on S3.",
        epilog="`pgback config --keys` lists every setting; `pgback COMMAND --help` the ones "
        "COMMAND uses.",
    )
    parser.add_argument("--version", action="version", version=f"pgback {__version__}")
    parser.add_argument("--debug", action="store_true", help="tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str
    ) -> argparse.ArgumentParser:
        groups = _COMMAND_GROUPS[name]
        cmd = sub.add_parser(name, help=help, description=help + "." + _secrets_note(groups))
        cmd.set_defaults(handler=handler)
        _add_settings_flags(cmd, groups)
        if name in _SERVER_COMMANDS:
            cmd.add_argument(
                "--server",
                default=None,
                metavar="NAME",
                help="one of the configuration's [[servers]]"
                + (" (default: every one)" if name in ("backup", "list", "purge") else ""),
            )
        return cmd

    add("backup", cmd_backup, "dump globals, configuration and databases into a new set")
    cmd = add("list", cmd_list, "one line per set, newest first")
    cmd.add_argument("--json", action="store_true")
    cmd = add("show", cmd_show, "a set's manifest as a table")
    cmd.add_argument("set", help="set id or 'latest'")
    cmd.add_argument("--json", action="store_true")
    cmd = add("purge", cmd_purge, "apply the retention policy")
    cmd.add_argument(
        "--dry-run", action="store_true", help="print keep/remove and why, delete nothing"
    )
    cmd.add_argument("--json", action="store_true", help="one object per set, newest first")
    cmd = add("download", cmd_download, "fetch a set into a directory")
    cmd.add_argument("set", help="set id or 'latest'")
    cmd.add_argument("--dest", required=True, help="directory to write into")
    cmd.add_argument("--decrypt", action="store_true", help="write plain, standard files")
    cmd = add("decrypt", cmd_decrypt, "decrypt .age files fetched by other means, as age -d")
    cmd.add_argument("path", help="an .age file, or a folder: every .age file under it")
    cmd.add_argument("--dest", default=None, help="write here instead of beside each file")
    cmd = add("import-config", cmd_import_config, "print pg_back.conf as a pgback settings file")
    cmd.add_argument("file", help="pg_back's configuration file (pg_back.conf)")
    cmd = add("restore", cmd_restore, "restore a set into a server")
    cmd.add_argument("set", help="set id or 'latest'")
    cmd.add_argument(
        "--target",
        default=None,
        help="target conninfo (password: PGBACK_TARGET_PASSWORD or ~/.pgpass)",
    )
    cmd.add_argument("--databases", default=None, help="only these databases (comma-separated)")
    cmd.add_argument("--clean", action="store_true", help="replace databases that already exist")
    cmd.add_argument(
        "--restore-jobs",
        dest="jobs",
        type=restore_jobs,
        default=1,
        help="pg_restore -j (stages the dump in a temporary file)",
    )
    cmd.add_argument("--no-globals", action="store_true", help="skip roles and tablespaces")
    part = cmd.add_argument_group(
        "what to restore (--schema, --table, --data-only, --schema-only and --as skip globals)"
    )
    part.add_argument(
        "--schema", action="append", default=[], metavar="NAME", help="only this schema (-n)"
    )
    part.add_argument(
        "--table", action="append", default=[], metavar="NAME", help="only this table (-t)"
    )
    only = part.add_mutually_exclusive_group()
    only.add_argument("--data-only", action="store_true", help="rows only, into existing tables")
    only.add_argument("--schema-only", action="store_true", help="definitions only, no rows")
    part.add_argument(
        "--as",
        dest="rename",
        default=None,
        metavar="NEWNAME",
        help="restore the one chosen database under this name (next to the original)",
    )
    part.add_argument("--no-owner", action="store_true", help="objects owned by the target role")
    part.add_argument("--no-privileges", action="store_true", help="skip GRANT and REVOKE")
    cmd = add("verify", cmd_verify, "re-read a set and check every file")
    cmd.add_argument("set", help="set id or 'latest'")
    cmd = add("config", cmd_config, "print the effective configuration (secrets redacted)")
    cmd.add_argument(
        "--keys", action="store_true", help="list every setting: group, environment, default"
    )
    cmd.add_argument("--markdown", action="store_true", help="with --keys: a Markdown table")
    add("doctor", cmd_doctor, "which client tools backup and restore use for the server, and why")
    add("serve", cmd_serve, "run as the sidecar: scheduled backups, health endpoint")
    add("health", cmd_health, "exit 0 when the last scheduled run is healthy")
    # listed for `pgback --help` only: pgback.main hands this command to the scenario harness
    # before this parser runs (`pgback run-scenario --help` shows its own options)
    sub.add_parser(
        "run-scenario", help="replay a scenario file (the testbed extra; see scenarios/)"
    )
    sub.add_parser("drill", help="a restore drill: restore the newest set and check it (FILE)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    # a path or name given as bytes that are not UTF-8 (a directory named $'\xff') is written
    # back as those bytes, whatever the locale makes of stdout
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="surrogateescape")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    refused = secret_flag(parser, argv)
    if refused:
        print(f"pgback: error: {refused}", file=sys.stderr)
        return UsageError.exit_code
    args = parse_args(parser, argv)
    debug = args.debug
    try:
        settings = _settings(args)
        setup_logging(settings.log_format, settings.log_level)
        for warning in settings.warnings:
            log.warning(warning)
        if args.command != "restore":  # a restore says when its own start-up is over
            startup.started()
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        return handler(args, settings)
    except PgbackError as exc:
        if debug:
            raise
        _error(str(exc), exc)
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted", None)
        return EXIT_INTERRUPTED
    except Exception as exc:  # an internal error still gets one line, not a traceback
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", None)
        return EXIT_FAILURE


def _error(message: str, exc: Any) -> None:
    # messages repeat what was given (a set id, a name, a path): escaped, one line stays one
    problems = [printable(p) for p in exc.lines()] if isinstance(exc, ConfigError) else []
    if len(problems) > 1:
        print(f"pgback: error: {len(problems)} configuration problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return
    print(f"pgback: error: {problems[0] if problems else printable(message)}", file=sys.stderr)
