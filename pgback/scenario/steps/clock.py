"""Steps on time: let it pass, and the seed's cron check on the real serve loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgback.actions.catalog import scan_sets
from pgback.durations import parse_duration
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step
from pgback.storage import open_storage


def _check_duration(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    parse_duration(str(args["by"]))
    return args


@step("advance_clock", allowed="by", required="by", scalar="by", check=_check_duration)
def advance_clock(ctx: Context, args: dict[str, Any]) -> None:
    """Let time pass without sleeping (the engine sees it: set ids, ages, purge)."""
    ctx.clock.advance(parse_duration(str(args["by"])))
    ctx.note(f"virtual time is now {ctx.clock.now().strftime('%Y-%m-%dT%H:%M:%SZ')}")


@step("cron", allowed="config schedule_in run_for expect_new_sets", writes_storage=True)
def cron(ctx: Context, args: dict[str, Any]) -> None:
    """The seed's cron check: schedule a backup N minutes from now (`M H * * *`), run the real
    `serve` loop in virtual time for a while, and count the new sets."""
    from datetime import timedelta

    from pgback.actions.serve import serve_loop

    now = ctx.clock.now()
    fire = (now + parse_duration(str(args.get("schedule_in", "2m")))).replace(
        second=0, microsecond=0
    )
    expr = f"{fire.minute} {fire.hour} * * *"
    deadline = now + parse_duration(str(args.get("run_for", "3m")))
    settings = ctx.settings({**(args.get("config") or {}), "backup_cron": expr})
    storage = open_storage(settings)
    before = {s.set_id for s in scan_sets(storage, settings.upload_prefix)}

    def wait(seconds: float) -> bool:
        # virtual sleep: jump the clock instead, and stop the loop at the deadline
        left = (deadline - ctx.clock.now()).total_seconds()
        if left <= 0:
            return True
        ctx.clock.advance(timedelta(seconds=min(seconds, left)))
        return False

    with ctx.backup_process():
        code = serve_loop(settings, clock=ctx.clock.now, wait=wait)
    after = [s for s in scan_sets(storage, settings.upload_prefix) if s.set_id not in before]
    ctx.note(f"cron {expr!r} (UTC); serve ran until {deadline:%H:%M:%S}, exit {code}")
    for summary in after:
        ctx.note(f"new set {summary.set_id} ({'complete' if summary.complete else 'incomplete'})")
    want = int(args.get("expect_new_sets", 1))
    if len(after) != want:
        raise StepFailed(f"expected {want} new set(s) from cron {expr!r}, found {len(after)}")
    late = [s.set_id for s in after if s.started.replace(second=0) != fire]
    if late:
        raise StepFailed(f"sets {late} did not start at the scheduled minute {fire:%H:%M}")
