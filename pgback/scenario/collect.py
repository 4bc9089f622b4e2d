"""Finding scenario files: by name in scenarios/, or by path."""

from __future__ import annotations

import os
from pathlib import Path

from pgback.scenario.model import ScenarioError

SUFFIX = ".yaml"


def scenarios_dir() -> Path:
    """`PGBACK_SCENARIOS_DIR`, else ./scenarios, else the repository's scenarios/."""
    override = os.environ.get("PGBACK_SCENARIOS_DIR")
    if override:
        return Path(override)
    here = Path.cwd() / "scenarios"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "scenarios"


def all_scenarios() -> list[Path]:
    return sorted(scenarios_dir().glob(f"*{SUFFIX}"))


def find_scenario(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == SUFFIX or os.sep in name_or_path:
        if not path.is_file():
            raise ScenarioError(f"no scenario file {path}")
        return path
    candidate = scenarios_dir() / f"{name_or_path}{SUFFIX}"
    if not candidate.is_file():
        known = ", ".join(p.stem for p in all_scenarios()) or "none"
        raise ScenarioError(
            f"no scenario named {name_or_path!r} in {scenarios_dir()} (known: {known})"
        )
    return candidate
