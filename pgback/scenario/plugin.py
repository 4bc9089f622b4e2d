"""pytest plugin: each scenario file is a test item (pytest's public collection API).

`pytest scenarios/` runs them; `--backend local|docker` picks where; under pytest-xdist every
worker runs its own scenarios with its own servers, ports and buckets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgback.scenario.model import Scenario, ScenarioError
from pgback.scenario.runner import ScenarioFailed, run_scenario
from pgback.scenario.schema import load_scenario


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pgback scenarios")
    group.addoption(
        "--backend",
        action="store",
        default="local",
        choices=["local", "docker"],
        help="where scenario services run (default: local processes)",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.integration)
        self.scenario: Scenario | None = None

    def runtest(self) -> None:
        backend = str(self.config.getoption("--backend"))
        self.scenario = load_scenario(self.path)  # a ScenarioError names file:line
        if backend not in self.scenario.backends:
            pytest.skip(f"scenario declares backends {list(self.scenario.backends)}")
        lines: list[str] = []
        run_scenario(self.scenario, backend=backend, out=lines.append)
        self.add_report_section("call", "scenario", "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        exc = excinfo.value
        if isinstance(exc, ScenarioFailed):
            return exc.report
        if isinstance(exc, ScenarioError):
            return str(exc)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"scenario: {self.name}"
