"""The command line: the only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pgback import __version__
from pgback.argv import OneLineParser, parse_args, restore_jobs, secret_flag
from pgback.config import GROUPS, KEYS, Settings, keys_in, load_settings, secret_from_env
from pgback.config.servers import select_servers
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
from pgback.errors import ConfigError, Interrupted, PgbackError, UsageError
from pgback.logs import setup_logging
from pgback.render import (
    purge_json,
    render_config,
    render_keys,
    render_keys_markdown,
    render_purge,
    render_set_list,
    render_show,
    render_verify,
    set_list_json,
)
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


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.fleet import backup_servers
    from pgback.actions.signals import cancel_on_stop_signals

    targets = select_servers(settings, args.server, command="backup", every=True)
    with cancel_on_stop_signals() as (cancel, received):
        try:
            results = backup_servers(targets, cancel=cancel)
        except PgbackError:
            if not received:
                raise
            name = signal.Signals(received[0]).name
            stopped = Interrupted(
                f"backup interrupted by {name}: its uploads were aborted and its partial set "
                "removed (no manifest); run `pgback backup` again"
            )
            stopped.exit_code = 128 + received[0]
            raise stopped from None
    for target, result in results:
        print(f"{target.server} {result.set_id}" if target.server else result.set_id)
        if result.purge:
            print(render_purge(result.purge, dry_run=False), end="")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.catalog import scan_sets
    from pgback.actions.context import utc_now
    from pgback.storage import open_storage

    listed: list[dict[str, Any]] = []
    for target in select_servers(settings, args.server, command="list", every=True):
        sets = scan_sets(open_storage(target), target.upload_prefix)
        if args.json:
            server = {"server": target.server} if target.server else {}
            listed += [{**server, **item} for item in set_list_json(sets)]
        else:
            heading = f"server {target.server}:\n" if settings.servers and not args.server else ""
            print(heading + render_set_list(sets, utc_now()), end="")
    if args.json:
        print(json.dumps(listed, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.catalog import resolve_manifest
    from pgback.storage import open_storage

    settings = select_servers(settings, args.server, command="show")[0]
    manifest = resolve_manifest(open_storage(settings), settings.upload_prefix, args.set)
    if args.json:
        print(manifest.to_json(), end="")
    else:
        print(render_show(manifest), end="")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.purge import run_purge

    planned: list[dict[str, Any]] = []
    for target in select_servers(settings, args.server, command="purge", every=True):
        outcomes = run_purge(target, dry_run=args.dry_run)
        if args.json:
            server = {"server": target.server} if target.server else {}
            planned += [{**server, **item} for item in purge_json(outcomes)]
        else:
            heading = f"server {target.server}:\n" if settings.servers and not args.server else ""
            print(heading + render_purge(outcomes, dry_run=args.dry_run), end="")
    if args.json:
        print(json.dumps(planned, indent=2))
    return EXIT_OK


def cmd_download(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.download import run_download

    settings = select_servers(settings, args.server, command="download")[0]
    for item in run_download(settings, args.set, args.dest, decrypt=args.decrypt):
        print(item.path)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.restore import RestoreOptions, run_restore, target_from

    settings = select_servers(settings, args.server, command="restore")[0]
    target = target_from(
        args.target or os.environ.get("PGBACK_TARGET", ""),
        secret_from_env("PGBACK_TARGET_PASSWORD"),
    )
    options = RestoreOptions(
        target=target,
        databases=tuple(args.databases.split(",")) if args.databases else (),
        clean=args.clean,
        jobs=args.jobs,
        globals=not args.no_globals,
    )
    result = run_restore(settings, args.set, options)
    print(f"restored set {result.set_id}: {', '.join(result.databases) or 'no database'}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.verify import run_verify

    settings = select_servers(settings, args.server, command="verify")[0]
    set_id, checks = run_verify(settings, args.set)
    print(render_verify(set_id, checks), end="")
    failed = [c for c in checks if not c.ok]
    if failed:
        error = PgbackError(
            f"verify: {len(failed)} of {len(checks)} file(s) of set {set_id} failed, the first: "
            f"{failed[0].detail}"
        )
        # one kind of failure (all decryption, all integrity...): its exit code, else 1
        codes = {c.error.exit_code if c.error else EXIT_FAILURE for c in failed}
        error.exit_code = codes.pop() if len(codes) == 1 else EXIT_FAILURE
        raise error
    return EXIT_OK


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.keys:
        print(render_keys_markdown() if args.markdown else render_keys(), end="")
        return EXIT_OK
    from pgback.actions.preflight import preflight

    # what the commands would only find when they start: `config` says it now
    checked = preflight(settings)
    if checked.problems:
        raise ConfigError(checked.problems)
    print(render_config(settings), end="")
    for note in checked.notes:
        log.info("note: %s", note)
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.doctor import run_doctor

    report = run_doctor(settings)
    print(report.render(), end="")
    if report.problem is not None:
        raise report.problem
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.serve import run_serve

    return run_serve(settings)


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.health import check_health

    ok, message = check_health(settings)
    print(message)
    return EXIT_OK if ok else EXIT_FAILURE


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
