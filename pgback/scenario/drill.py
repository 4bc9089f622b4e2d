"""`pgback drill FILE`: a restore drill as a command. It runs a scenario (usually: restore the
newest set from the real bucket into a throwaway server and check what must hold), records the
outcome in `<state_dir>/drill.json` (the sidecar's /metrics reads it) and posts `drill.success`
or `drill.failure` to the webhook. It never writes to the bucket (the scenario loader refuses
steps that would, when the scenario uses the real one): read-only credentials suffice.

Exit 0 when the drill passed, 1 when it failed, 2 for a scenario file or settings that cannot
be used.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pgback.actions.context import utc_now
from pgback.actions.drill_status import record_drill
from pgback.actions.status import RunRecord
from pgback.config import Settings, load_settings
from pgback.errors import ConfigError, PgbackError
from pgback.logs import setup_logging
from pgback.notify import FAILURE, SUCCESS, Event, Notifier
from pgback.scenario.model import ScenarioError
from pgback.scenario.runner import ScenarioFailed, run_scenario
from pgback.scenario.schema import load_scenario
from pgback.testbed.common import TestbedError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgback drill",
        description="Run a restore drill: a scenario against the real bucket (see "
        "docs/scenarios.md), recorded in state_dir/drill.json and posted to the webhook.",
    )
    parser.add_argument("file", help="the drill's scenario file")
    return parser


def run(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        settings = load_settings()
        scenario = load_scenario(Path(args.file))
    except ConfigError as exc:
        _error("; ".join(exc.problems))
        return 2
    except ScenarioError as exc:
        _error(str(exc))
        return 2
    setup_logging(settings.log_format, "warning")
    # `docker stop` or the sidecar stopping: unwind, so the scratch server is removed
    signal.signal(signal.SIGTERM, _interrupt)
    started = utc_now()
    values: dict[str, Any] = {}
    error = None
    try:
        run_scenario(scenario, out=lambda line: print(line, flush=True), values=values)
    except ScenarioFailed as exc:
        cause = exc.__cause__ or exc
        error = f"{exc.step.label} failed at {exc.path}:{exc.line}: {_line(cause)}"
    except (ScenarioError, TestbedError, PgbackError, KeyboardInterrupt) as exc:
        error = _line(exc) or "interrupted"
    record = RunRecord(
        started, utc_now(), error is None, set_id=values.get("restored_set"), error=error
    )
    _report(settings, scenario.name, record)
    if error is not None:
        _error(f"drill {scenario.name}: {error}")
        return 1
    return 0


def _report(settings: Settings, name: str, record: RunRecord) -> None:
    try:
        record_drill(settings, name, record)
    except OSError as exc:
        _error(f"cannot write the drill status in {settings.state_dir}: {exc.strerror}")
    context = {"drill": name, "upload_prefix": settings.upload_prefix}
    event = Event(SUCCESS if record.success else FAILURE, record.to_json(), context, "drill")
    Notifier.from_settings(settings).notify(event)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error(message: str) -> None:
    print(f"pgback: error: {message}", file=sys.stderr)
