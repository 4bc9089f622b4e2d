"""The `pgback` command line as a step: in this process under the scenario's clock on the local
backend, inside the sidecar container on the docker backend."""

from __future__ import annotations

import contextlib
import io
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pgback.durations import format_duration
from pgback.scenario.context import Context
from pgback.scenario.registry import StepFailed, step


@step("pgback", allowed="args config expect_exit expect_output reject_output")
def pgback_cli(ctx: Context, args: dict[str, Any]) -> None:
    """Run the pgback command line: in this process under the scenario's clock on the local
    backend, inside the sidecar container on the docker backend."""
    argv = [str(a) for a in (args.get("args") or [])]
    env = ctx.engine_env(args.get("config"))
    if ctx.services.sidecar is not None:
        code, output = ctx.services.sidecar.exec(["pgback", *argv], ctx.sidecar_env(env))
    else:
        code, output = _cli_in_process(argv, env, ctx.workdir)
    for line in output.splitlines():
        ctx.note(line)
    if ctx.services.sidecar is not None and ctx.clock.lead() >= timedelta(seconds=1):
        # the container runs on the real clock: `list` shows the sets' ages "in future"
        ctx.note(
            f"(the sidecar ran on the real clock, {format_duration(ctx.clock.lead())} behind "
            "the scenario's virtual time)"
        )
    want = int(args.get("expect_exit", 0))
    if code != want:
        raise StepFailed(f"pgback {' '.join(argv)} exited {code}, expected {want}")
    expected = args.get("expect_output") or []
    for text in [expected] if isinstance(expected, str) else expected:
        if str(text) not in output:
            raise StepFailed(f"pgback {' '.join(argv)}: output lacks {text!r}")
    rejected = args.get("reject_output") or []
    if ctx.services.sidecar is not None and ctx.clock.lead() >= timedelta(seconds=1):
        # what the output may not hold is judged in the scenario's time, which the container
        # does not see (its clock is the host's)
        ctx.note(f"reject_output not checked in the sidecar: {rejected!r}")
        rejected = []
    for text in [rejected] if isinstance(rejected, str) else rejected:
        if str(text) in output:
            raise StepFailed(f"pgback {' '.join(argv)}: output holds {text!r}")


def _cli_in_process(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """`pgback ARGV` as a user's shell would run it (that environment, that directory), in this
    process so that it sees the virtual clock; its output, and logging, restored after."""
    from pgback import cli

    output = io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    logger = logging.getLogger("pgback")
    saved_log = (logger.handlers[:], logger.level, logger.propagate)
    os.environ.clear()
    os.environ.update({k: v for k, v in saved_env.items() if not k.startswith(_NOT_INHERITED)})
    os.environ.update(env)
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            try:
                code = cli.run(argv)
            except SystemExit as exc:  # --help, argument errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        logger.handlers[:], logger.level, logger.propagate = saved_log
    return code, output.getvalue()


# what a user's shell would not hand over from this process: the harness's own servers
_NOT_INHERITED = ("PG", "AWS_")
