"""`pgback run-scenario`: run one scenario file and report, or list them."""

from __future__ import annotations

import argparse
import sys

from pgback.scenario.collect import all_scenarios, find_scenario
from pgback.scenario.matrix import Combo, MatrixError, parse_majors, parse_s3
from pgback.scenario.runner import ScenarioFailed, run_scenario
from pgback.scenario.schema import ScenarioError, load_scenario


def run_scenario_command(args: argparse.Namespace) -> int:
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
        combo = _combo(args)
        run_scenario(
            scenario,
            backend=args.backend,
            combo=combo,
            keep=args.keep,
            out=lambda line: print(line, flush=True),
        )
    except MatrixError as exc:
        print(f"pgback: error: {exc}", file=sys.stderr)
        return 2
    except ScenarioFailed as exc:
        print(
            f"pgback: scenario failed at {exc.path}:{exc.line}: {exc.step.label}", file=sys.stderr
        )
        return 1
    except ScenarioError as exc:
        print(f"pgback: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _combo(args: argparse.Namespace) -> Combo:
    """One combination: --postgres N and --s3 NAME (each a single value here)."""
    for option, value in (("--postgres", args.postgres), ("--s3", args.s3)):
        if value and ("," in value or value.strip() == "all"):
            raise MatrixError(f"{option} takes one value here (the pytest option takes lists)")
    major = parse_majors(args.postgres, args.backend)[0]
    s3 = parse_s3(args.s3, args.backend)[0]
    return Combo(major, s3)
