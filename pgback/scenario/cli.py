"""`pgback run-scenario`: run one scenario file and report, or list them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pgback.logs import setup_logging
from pgback.scenario.collect import all_scenarios, find_scenario
from pgback.scenario.model import ScenarioError
from pgback.scenario.runner import ScenarioFailed, run_scenario
from pgback.scenario.schema import load_scenario


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgback run-scenario",
        description="Replay a scenario file against real servers (see scenarios/).",
    )
    parser.add_argument("name", nargs="?", help="scenario name or path")
    parser.add_argument("--backend", choices=["local", "docker"], default="local")
    parser.add_argument("--keep", action="store_true", help="leave the servers running")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument(
        "--list-steps", action="store_true", help="every step kind, its options and what it does"
    )
    parser.add_argument("--markdown", action="store_true", help="with --list-steps: a table")
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    setup_logging("text", "warning")
    return run_scenario_command(args)


def run_scenario_command(args: argparse.Namespace) -> int:
    if args.list_steps:
        from pgback.scenario.reference import steps_markdown, steps_text

        print(steps_markdown() if args.markdown else steps_text(), end="")
        return 0
    if args.list:
        for path in all_scenarios():
            try:
                scenario = load_scenario(path)
                summary = scenario.description.splitlines()[0] if scenario.description else ""
                print(f"{scenario.name:<24} [{','.join(scenario.backends)}] {summary}")
            except ScenarioError as exc:
                print(f"{path.stem:<24} INVALID: {exc}")
        return 0
    if not args.name:
        print(
            "pgback: error: run-scenario needs a scenario NAME or PATH (--list shows them)",
            file=sys.stderr,
        )
        return 2
    try:
        scenario = load_scenario(find_scenario(args.name))
        run_scenario(
            scenario, backend=args.backend, keep=args.keep, out=lambda line: print(line, flush=True)
        )
    except ScenarioFailed as exc:
        print(
            f"pgback: scenario failed at {exc.path}:{exc.line}: {exc.step.label}", file=sys.stderr
        )
        return 1
    except ScenarioError as exc:
        print(f"pgback: error: {exc}", file=sys.stderr)
        return 2
    return 0
