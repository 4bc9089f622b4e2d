"""Running a scenario: services up, steps in order with outcome and duration, everything down.

On failure the report names the file:line and the step, shows the step's source and the tails
of the servers' logs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrage import x25519

from pgback.scenario.context import Context
from pgback.scenario.matrix import Combo, resolve
from pgback.scenario.model import Scenario, ScenarioError, Step
from pgback.scenario.providers import get_provider
from pgback.scenario.providers.base import Services
from pgback.scenario.registry import STEPS
from pgback.testbed.clock import VirtualClock


class ScenarioFailed(ScenarioError):
    """A step failed: carries the report to print."""

    def __init__(self, message: str, *, scenario: Scenario, step: Step, report: str) -> None:
        super().__init__(message, path=scenario.path, line=step.line)
        self.step = step
        self.report = report


@dataclass
class StepResult:
    step: Step
    ok: bool
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    scenario: Scenario
    backend: str
    steps: list[StepResult]
    seconds: float
    combo: Combo = field(default_factory=Combo)


Printer = Callable[[str], None]


def run_scenario(
    scenario: Scenario,
    *,
    backend: str = "local",
    combo: Combo | None = None,
    keep: bool = False,
    out: Printer = print,
    verbose: bool = True,
    results: list[StepResult] | None = None,
    values: dict[str, Any] | None = None,
) -> RunResult:
    """Run it; `results` (when given) receives each step's outcome as it ends, and `values`
    what the steps remembered (the restored set...), even when a later step fails."""
    if backend not in scenario.backends:
        raise ScenarioError(
            f"scenario {scenario.name} does not run on the {backend} backend", path=scenario.path
        )
    combo = combo or Combo()
    resolved = resolve(scenario, combo, backend)
    if isinstance(resolved, str):
        raise ScenarioError(
            f"scenario {scenario.name} cannot run on {combo.id}: {resolved}", path=scenario.path
        )
    provider = get_provider(backend)
    workdir = Path(tempfile.mkdtemp(prefix=f"pgback-scenario-{scenario.name}-"))
    started = time.monotonic()
    results = [] if results is None else results
    where = backend if combo.is_default else f"{backend} backend, {combo.id}"
    out(f"scenario {scenario.name} ({where}): {scenario.description}")
    try:
        cm = provider.services(
            scenario.services, workdir, versions=resolved.versions, s3=resolved.s3
        )
        services = cm.__enter__()
        try:
            names = [
                f"{name} (PostgreSQL {services.postgres[name].version})"
                if name in services.postgres
                else f"s3 ({resolved.s3})"
                if name == "s3"
                else name
                for name in scenario.services
            ]
            out(f"  services up in {time.monotonic() - started:.1f}s: " + ", ".join(names))
            _run_steps(scenario, services, workdir, backend, results, out, verbose, values)
            if keep:
                _print_keep(services, out)
                input("  --keep: servers are up; press Enter to stop them ")
        finally:
            cm.__exit__(None, None, None)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - started
    out(f"scenario {scenario.name} passed: {len(results)} steps in {total:.1f}s")
    return RunResult(scenario, backend, results, total, combo)


def _run_steps(
    scenario: Scenario,
    services: Services,
    workdir: Path,
    backend: str,
    results: list[StepResult],
    out: Printer,
    verbose: bool,
    values: dict[str, Any] | None = None,
) -> None:
    clock = VirtualClock()
    identity = None
    if scenario.age_identity:
        key = x25519.Identity.generate()
        identity = (str(key), str(key.to_public()))
    ctx = Context(scenario, services, workdir, backend, clock, identity)
    if values is not None:
        ctx.values = values  # the caller reads what the steps remember
    width = len(str(len(scenario.steps)))
    with clock.patching():
        for step in scenario.steps:
            ctx.notes = []
            began = time.monotonic()
            try:
                STEPS[step.kind].run(ctx, step.args)
            except Exception as exc:  # any failure is reported against the step
                seconds = time.monotonic() - began
                results.append(StepResult(step, False, seconds, ctx.notes))
                out(
                    f"  [{step.index:>{width}}/{len(scenario.steps)}] {step.kind:<22} "
                    f"FAILED {seconds:6.2f}s"
                )
                report = _failure_report(scenario, step, exc, services, ctx.notes)
                out(report)
                raise ScenarioFailed(
                    f"{step.label} failed: {exc}", scenario=scenario, step=step, report=report
                ) from exc
            seconds = time.monotonic() - began
            results.append(StepResult(step, True, seconds, ctx.notes))
            out(
                f"  [{step.index:>{width}}/{len(scenario.steps)}] {step.kind:<22} "
                f"ok     {seconds:6.2f}s"
            )
            if verbose:
                for note in ctx.notes:
                    out(f"        {note}")


def _failure_report(
    scenario: Scenario, step: Step, exc: BaseException, services: Services, notes: list[str]
) -> str:
    lines = [
        f"FAILED at {scenario.path}:{step.line} ({step.label})",
        f"  {type(exc).__name__}: {exc}",
        "  step source:",
        scenario.source_lines(step),
    ]
    if notes:
        lines.append("  step output:")
        lines += [f"    {note}" for note in notes[-20:]]
    for name, tail in services.logs(15).items():
        lines.append(f"  --- last lines of {name} log ---")
        lines += [f"    {line}" for line in tail.splitlines()[-15:]]
    return "\n".join(lines)


def _print_keep(services: Services, out: Printer) -> None:
    for name, pg in services.postgres.items():
        out(
            f"  {name}: psql 'host={pg.host} port={pg.port} user={pg.user}' "
            "(password: see PGPASSWORD below)"
        )
        out(f"    PGPASSWORD={pg.password}")
    if services.s3 is not None:
        out(f"  s3: {services.s3.endpoint_url} (key {services.s3.access_key})")
