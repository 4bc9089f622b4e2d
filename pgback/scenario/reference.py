"""The step reference, read off the registry: `run-scenario --list-steps` and the table in
docs/scenarios.md (a test keeps that file equal to `steps_markdown()`)."""

from __future__ import annotations

from pgback.scenario.registry import STEPS, StepSpec
from pgback.scenario.schema import load_scenario as _registers_every_step

del _registers_every_step  # importing the loader registers every step kind


def arguments(spec: StepSpec) -> str:
    """`server file* dbname`: the options, required ones marked with *, files with (file)."""
    if spec.usage:
        return spec.usage
    if not spec.allowed:
        return "-"
    names = []
    for name in sorted(spec.allowed):
        mark = "*" if name in spec.required else ""
        kind = " (file)" if name in spec.paths else ""
        names.append(f"{name}{mark}{kind}")
    shorthand = f"; `- {{step}}: VALUE` sets {spec.scalar}" if spec.scalar else ""
    return " ".join(names) + shorthand


def steps_text() -> str:
    lines = []
    for kind in sorted(STEPS):
        spec = STEPS[kind]
        lines.append(f"{kind:<22} {arguments(spec).replace('{step}', kind)}")
        lines.append(f"{'':<22} {spec.help}")
    return "\n".join(lines) + "\n"


def steps_markdown() -> str:
    lines = ["| step | options (* required) | what it does |", "|---|---|---|"]
    for kind in sorted(STEPS):
        spec = STEPS[kind]
        options = arguments(spec).replace("{step}", kind).replace("|", "\\|")
        lines.append(f"| `{kind}` | {options} | {spec.help} |")
    return "\n".join(lines) + "\n"
