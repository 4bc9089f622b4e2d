"""What a scenario is, once loaded: its services, settings and steps (no behaviour here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ScenarioError(Exception):
    """A scenario file that is not valid, or a step that failed; carries file:line."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)


@dataclass(frozen=True)
class Step:
    kind: str
    args: dict[str, Any]
    line: int
    index: int

    @property
    def label(self) -> str:
        return f"step {self.index} {self.kind}"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    services: tuple[str, ...]
    backends: tuple[str, ...]
    config: dict[str, Any]
    age_identity: bool
    steps: tuple[Step, ...] = field(default_factory=tuple)
    settings_file: Path | None = None  # the team's own pgback settings (TOML), no secrets

    def source_lines(self, step: Step, context: int = 0) -> str:
        """The step's own lines in the file, for failure reports."""
        lines = self.path.read_text().splitlines()
        end = step.line
        while end < len(lines) and (
            lines[end].startswith(" " * (_indent(lines[step.line - 1]) + 1))
            or not lines[end].strip()
        ):
            end += 1
        start = max(step.line - 1 - context, 0)
        return "\n".join(f"{n + 1:4d} | {lines[n]}" for n in range(start, end))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def strip_lines(value: Any) -> Any:
    """The value without the `__line__` bookkeeping keys."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value
