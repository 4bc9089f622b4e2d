"""pytest plugin: each scenario file is a test item (pytest's public collection API).

`pytest scenarios/` runs them; `--backend local|docker` picks where; `--postgres 15,16,18
--s3 moto,seaweedfs,rclone` makes one item per combination (`readme-walkthrough[pg16-seaweedfs]`;
`all` is every one this machine offers); `--compat-table FILE` writes the results as the
compatibility table (pgback/scenario/compat.py). Under pytest-xdist every worker runs its own
scenarios with its own servers, ports and buckets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgback.scenario.compat import CompatTable
from pgback.scenario.matrix import Combo, MatrixError, combinations, resolve
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
    group.addoption(
        "--postgres",
        action="store",
        default=None,
        help="PostgreSQL majors for the scenarios, e.g. 15,16,18, or all (default: the "
        "backend's one)",
    )
    group.addoption(
        "--s3",
        action="store",
        default=None,
        help="S3 servers for the scenarios, e.g. moto,seaweedfs,rclone, or all (default: moto)",
    )
    group.addoption(
        "--compat-table",
        action="store",
        default=None,
        metavar="FILE",
        help="write the scenario results as the compatibility table into FILE "
        "(docs/compatibility.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    backend = str(config.getoption("--backend"))
    postgres, s3 = config.getoption("--postgres"), config.getoption("--s3")
    try:
        config.stash[_COMBOS] = combinations(backend, postgres, s3)
    except MatrixError as exc:
        raise pytest.UsageError(str(exc)) from None
    path = config.getoption("--compat-table")
    if path and not hasattr(config, "workerinput"):  # the xdist controller (or no xdist)
        table = CompatTable(Path(path), backend, config.stash[_COMBOS])
        config.pluginmanager.register(table, "pgback-compat-table")


_COMBOS = pytest.StashKey[list[Combo]]()


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        combos = self.config.stash[_COMBOS]
        for combo in combos:
            name = self.path.stem if combo.is_default else f"{self.path.stem}[{combo.id}]"
            yield ScenarioItem.from_parent(self, name=name, combo=combo)


class ScenarioItem(pytest.Item):
    def __init__(self, *, combo: Combo, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.integration)
        self.scenario: Scenario | None = None
        self.combo = combo
        # read by the compatibility table in the controlling process (xdist passes them on)
        self.user_properties.append(("pgback_scenario", self.path.stem))
        self.user_properties.append(("pgback_combo", combo.id))

    def runtest(self) -> None:
        backend = str(self.config.getoption("--backend"))
        self.scenario = load_scenario(self.path)  # a ScenarioError names file:line
        if backend not in self.scenario.backends:
            pytest.skip(f"scenario declares backends {list(self.scenario.backends)}")
        resolved = resolve(self.scenario, self.combo, backend)
        if isinstance(resolved, str):
            pytest.skip(resolved)
        lines: list[str] = []
        run_scenario(self.scenario, backend=backend, combo=self.combo, out=lines.append)
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
