"""The command line: the only place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from pgback import __version__
from pgback.config import KEYS, Settings, load_settings
from pgback.errors import Interrupted, PgbackError
from pgback.logs import setup_logging
from pgback.render import (
    render_config,
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


@contextmanager
def _cancel_on_stop_signals() -> Iterator[tuple[threading.Event, list[int]]]:
    """The first SIGTERM or SIGINT sets the event (the run aborts its uploads and removes its
    partial set); the previous handlers come back, so a second signal acts at once."""
    cancel = threading.Event()
    received: list[int] = []
    watched = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in watched}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        cancel.set()
        restore()

    for signum in watched:
        signal.signal(signum, handle)
    try:
        yield cancel, received
    finally:
        restore()


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.backup import run_backup

    with _cancel_on_stop_signals() as (cancel, received):
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
    from pgback.actions.catalog import scan_sets
    from pgback.actions.context import make_storage, utc_now

    sets = scan_sets(make_storage(settings), settings.upload_prefix)
    if args.json:
        print(json.dumps(set_list_json(sets), indent=2, ensure_ascii=False))
    else:
        print(render_set_list(sets, utc_now()), end="")
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.catalog import resolve_manifest
    from pgback.actions.context import make_storage

    manifest = resolve_manifest(make_storage(settings), settings.upload_prefix, args.set)
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


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pgback.actions.restore import RestoreOptions, run_restore, target_from

    target = target_from(
        args.target or os.environ.get("PGBACK_TARGET", ""),
        _secret_env("PGBACK_TARGET_PASSWORD"),
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
    print(render_config(settings), end="")
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


def _secret_env(name: str) -> str | None:
    if os.environ.get(name + "_FILE"):
        with open(os.environ[name + "_FILE"]) as handle:
            return handle.read().rstrip("\r\n")
    return os.environ.get(name)


def _config_flags() -> argparse.ArgumentParser:
    """Every non-secret setting as a flag; secrets only from env, files or the config file,
    so they never show in a process listing."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (each also PGBACK_<KEY> in the environment)")
    group.add_argument("--config", default=None, help="TOML configuration file")
    for spec in KEYS.values():
        if spec.secret:
            continue
        group.add_argument(
            spec.flag, dest=f"cfg_{spec.name}", default=None, metavar="VALUE", help=spec.help
        )
    return parent


def build_parser() -> argparse.ArgumentParser:
    settings_flags = _config_flags()
    parser = argparse.ArgumentParser(
        prog="pgback",
        description="Logical PostgreSQL backups as grouped, encrypted backup sets on S3.",
    )
    parser.add_argument("--version", action="version", version=f"pgback {__version__}")
    parser.add_argument("--debug", action="store_true", help="tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, parents=[settings_flags], help=help, description=help)
        cmd.set_defaults(handler=handler)
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
    cmd = add("verify", cmd_verify, "re-read a set and check every file")
    cmd.add_argument("set", help="set id or 'latest'")
    add("config", cmd_config, "print the effective configuration (secrets redacted)")
    add("doctor", cmd_doctor, "which client tools backup and restore use for the server, and why")
    add("serve", cmd_serve, "run as the sidecar: scheduled backups, health endpoint")
    add("health", cmd_health, "exit 0 when the last scheduled run is healthy")
    scen = sub.add_parser("run-scenario", help="replay a scenario file (see scenarios/)")
    scen.add_argument("name", nargs="?", help="scenario name or path")
    scen.add_argument("--backend", choices=["local", "docker"], default="local")
    scen.add_argument("--postgres", default=None, help="PostgreSQL major of the servers, e.g. 16")
    scen.add_argument("--s3", default=None, help="S3 server: moto, seaweedfs, rclone (local)")
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


def _error(message: str, exc: Any) -> None:
    problems = getattr(exc, "problems", None)
    if problems and len(problems) > 1:
        print(f"pgback: error: {len(problems)} configuration problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return
    print(f"pgback: error: {message}", file=sys.stderr)
