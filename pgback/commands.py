"""The command line's handlers: one function per command, from parsed arguments and settings
to the engine's action and what it prints. Errors travel up as exceptions; pgback/cli.py turns
them into messages and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from typing import Any

from pgback.config import Settings, secret_from_env
from pgback.config.servers import select_servers
from pgback.errors import ConfigError, Interrupted, PgbackError, UsageError
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

log = logging.getLogger("pgback")

EXIT_OK = 0
EXIT_FAILURE = 1


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
    from pgback.actions.catalog import describe_pg_back_runs, scan_sets
    from pgback.actions.context import utc_now
    from pgback.storage import open_storage

    listed: list[dict[str, Any]] = []
    for target in select_servers(settings, args.server, command="list", every=True):
        storage = open_storage(target)
        sets = scan_sets(storage, target.upload_prefix)
        describe_pg_back_runs(storage, sets)
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

    settings = select_servers(settings, args.server, command="restore")[0]
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
