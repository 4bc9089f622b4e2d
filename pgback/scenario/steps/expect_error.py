"""`expect_error`: any other step, which must fail with a given message (and exit code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgback.errors import PgbackError
from pgback.scenario.context import Context
from pgback.scenario.registry import STEPS, StepFailed, step, validate_step_args


def _check_expect_error(args: dict[str, Any], base: Path | None) -> dict[str, Any]:
    inner = [k for k in args if k not in ("message", "exit_code")]
    if "message" not in args:
        raise ValueError("needs `message:` (text the error must contain)")
    if len(inner) != 1 or inner[0] not in STEPS or inner[0] == "expect_error":
        raise ValueError("needs exactly one step to run besides `message`, e.g. `restore: {...}`")
    kind = inner[0]
    return {
        "message": str(args["message"]),
        "exit_code": args.get("exit_code"),
        "step": kind,
        "args": validate_step_args(kind, args[kind], base),
    }


@step(
    "expect_error",
    allowed=None,
    check=_check_expect_error,
    usage="message* exit_code, and one other step with its options",
)
def expect_error(ctx: Context, args: dict[str, Any]) -> None:
    """A step that must fail with a message containing `message`."""
    inner = STEPS[args["step"]]
    try:
        inner.run(ctx, args["args"])
    except (PgbackError, StepFailed) as exc:
        if args["message"].lower() not in str(exc).lower():
            raise StepFailed(
                f"failed as expected, but with {str(exc)!r}, which lacks {args['message']!r}"
            ) from None
        if (
            args.get("exit_code") is not None
            and getattr(exc, "exit_code", None) != args["exit_code"]
        ):
            raise StepFailed(
                f"exit code {getattr(exc, 'exit_code', None)}, expected {args['exit_code']}"
            ) from None
        ctx.note(f"failed as expected: {exc}")
        return
    raise StepFailed(
        f"{args['step']} succeeded, but it was expected to fail with {args['message']!r}"
    )
