"""pytest plugin: each scenario file is a test item (pytest's public collection API).

Registered through the `pytest11` entry point, so `pip install 'pgback[testbed]'` then `pytest`
collects scenario files in any repository: the YAML files under the folders of the ini option
`pgback_scenarios` (e.g. `pgback_scenarios = ci/backup-scenarios`), or, without it, every
`.yaml`/`.yml` file with a top-level `steps:` key. `--backend local|docker` picks where; under
pytest-xdist every worker runs its own scenarios with its own servers, ports and buckets.

This module imports only pytest at load time: it is loaded in every pytest run of an
environment where pgback is installed, testbed extra or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pgback.scenario.model import Scenario

INI_FOLDERS = "pgback_scenarios"
SUFFIXES = (".yaml", ".yml")
_TOP_LEVEL_STEPS = re.compile(r"^steps:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_FOLDERS,
        "folders holding pgback scenario files (default: any YAML file with a top-level steps:)",
        type="paths",
        default=[],
    )
    group = parser.getgroup("pgback scenarios")
    group.addoption(
        "--backend",
        action="store",
        default="local",
        choices=["local", "docker"],
        help="where scenario services run (default: local processes)",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in SUFFIXES:
        return None
    folders: list[Path] = parent.config.getini(INI_FOLDERS)
    if folders:
        wanted = any(file_path.is_relative_to(folder) for folder in folders)
    else:
        wanted = _looks_like_a_scenario(file_path)
    return ScenarioFile.from_parent(parent, path=file_path) if wanted else None


def _looks_like_a_scenario(path: Path) -> bool:
    try:
        return bool(_TOP_LEVEL_STEPS.search(path.read_text(errors="replace")))
    except OSError:
        return False


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.integration)
        self.scenario: Scenario | None = None

    def runtest(self) -> None:
        from pgback.main import testbed_missing

        missing = testbed_missing()
        if missing:
            raise ScenarioNeedsTestbed(
                f"{self.path}: scenarios need the test bed (missing: {', '.join(missing)}): "
                "pip install 'pgback[testbed]'"
            )
        from pgback.scenario.runner import StepResult, run_scenario
        from pgback.scenario.schema import load_scenario

        backend = str(self.config.getoption("--backend"))
        self.scenario = load_scenario(self.path)  # a ScenarioError names file:line
        if backend not in self.scenario.backends:
            pytest.skip(f"scenario declares backends {list(self.scenario.backends)}")
        lines: list[str] = []
        steps: list[StepResult] = []
        try:
            run_scenario(self.scenario, backend=backend, out=lines.append, results=steps)
        finally:
            # each step with its outcome and duration, in --junitxml's <properties> too
            for result in steps:
                outcome = "ok" if result.ok else "FAILED"
                self.user_properties.append(
                    (
                        result.step.label,
                        f"{outcome} {result.seconds:.2f}s (line {result.step.line})",
                    )
                )
        self.add_report_section("call", "scenario", "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from pgback.scenario.model import ScenarioError
        from pgback.scenario.runner import ScenarioFailed

        exc = excinfo.value
        if isinstance(exc, ScenarioNeedsTestbed):
            return str(exc)
        if isinstance(exc, ScenarioFailed):
            return exc.report
        if isinstance(exc, ScenarioError):
            return str(exc)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"scenario: {self.name}"


class ScenarioNeedsTestbed(Exception):
    """The scenario file is collected, but the harness's dependencies are not installed."""
