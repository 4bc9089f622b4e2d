"""The step registry: each step kind is a function registered with `@step(...)`, which declares
its arguments (and, where needed, its own argument check), so the loader validates every step
before any server starts and `--list-steps` can describe them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgback.scenario.model import strip_lines

if TYPE_CHECKING:
    from pgback.scenario.context import Context

StepFn = Callable[["Context", dict[str, Any]], None]
Check = Callable[[dict[str, Any], Path | None], dict[str, Any]]


class StepFailed(AssertionError):
    """An expectation of the scenario did not hold."""


@dataclass(frozen=True)
class StepSpec:
    run: StepFn
    allowed: frozenset[str]
    required: frozenset[str] = frozenset()
    scalar: str | None = None  # `- step: VALUE` means `{scalar: VALUE}`
    help: str = ""
    # the step's own check of its arguments, after the generic one (or instead of it when
    # `allowed` is None): returns the arguments the step runs with, ValueError when wrong
    check: Check | None = None
    # arguments naming files relative to the scenario file: resolved, and checked to exist,
    # when the scenario is loaded
    paths: frozenset[str] = frozenset()
    usage: str = ""  # how its options read, for a step without a fixed set of them
    writes_storage: bool = False  # refused in a drill (no `s3` service: the real bucket)


STEPS: dict[str, StepSpec] = {}


def step(
    name: str,
    *,
    allowed: str | None = "",
    required: str = "",
    scalar: str | None = None,
    check: Check | None = None,
    paths: str = "",
    usage: str = "",
    writes_storage: bool = False,
) -> Callable[[StepFn], StepFn]:
    def register(fn: StepFn) -> StepFn:
        if name in STEPS:
            raise ValueError(f"step {name!r} is registered twice")
        STEPS[name] = StepSpec(
            fn,
            frozenset(allowed.split()) if allowed is not None else frozenset(),
            frozenset(required.split()),
            scalar,
            _first_paragraph(fn.__doc__ or ""),
            check if allowed is not None else _free_form(check),
            frozenset(paths.split()),
            usage,
            writes_storage,
        )
        return fn

    return register


def _first_paragraph(doc: str) -> str:
    paragraph = doc.strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _free_form(check: Check | None) -> Check:
    if check is None:
        raise ValueError("a step without a fixed set of options needs its own check")
    setattr(check, "free_form", True)  # noqa: B010 - marks the check as the whole validation
    return check


def validate_step_args(kind: str, value: Any, base: Path | None = None) -> dict[str, Any]:
    """Normalise a step's arguments to a dict, its file arguments resolved against `base` (the
    scenario file's folder); ValueError naming the problem."""
    spec = STEPS[kind]
    value = strip_lines(value)
    if value is None:
        args: dict[str, Any] = {}
    elif isinstance(value, dict):
        args = dict(value)
    elif spec.scalar is not None:
        args = {spec.scalar: value}
    else:
        raise ValueError(
            f"takes a mapping of options ({', '.join(sorted(spec.allowed)) or 'none'})"
        )
    if spec.check is not None and getattr(spec.check, "free_form", False):
        return spec.check(args, base)
    unknown = set(args) - spec.allowed
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(spec.allowed)) or 'none'})"
        )
    missing = spec.required - set(args)
    if missing:
        raise ValueError(f"missing option(s) {', '.join(sorted(missing))}")
    for name in spec.paths & set(args):
        args[name] = _existing_file(args[name], name, base)
    return spec.check(args, base) if spec.check is not None else args


def _existing_file(value: Any, name: str, base: Path | None) -> Path:
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.is_file():
        raise ValueError(
            f"{name}: no file {value!r} (looked for {path}; paths are relative to the scenario "
            "file)"
        )
    return path


def size_arg(text: Any) -> int:
    """A size as scenarios write it: 6MiB, 512KiB, 100."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B?)?\s*", str(text), re.I)
    if not match:
        raise StepFailed(f"not a size: {text!r} (use 6MiB, 512KiB...)")
    unit = (match.group(2) or "").upper()[:1]
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]
