"""The compatibility table: a backend's section is replaced in place, other text kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.scenario.compat import CompatTable, replace_section
from pgback.scenario.matrix import Combo


def test_replace_section_swaps_only_its_backend_between_markers() -> None:
    text = (
        "# Title\n\nprose\n<!-- compat-table:local:begin -->\nold local\n"
        "<!-- compat-table:local:end -->\nmiddle\n<!-- compat-table:docker:begin -->\n"
        "docker table\n<!-- compat-table:docker:end -->\ntail\n"
    )
    out = replace_section(text, "local", "new local")
    assert "new local" in out and "old local" not in out
    assert out.startswith("# Title\n\nprose\n")
    assert "docker table" in out and out.endswith("tail\n")


def test_replace_section_without_markers_appends_them() -> None:
    out = replace_section("# Title\n", "docker", "table")
    assert out == (
        "# Title\n\n<!-- compat-table:docker:begin -->\ntable\n<!-- compat-table:docker:end -->\n"
    )


class _Report:
    def __init__(self, combo: str, outcome: str, when: str = "call", reason: str = "") -> None:
        self.user_properties = [("pgback_scenario", "walk"), ("pgback_combo", combo)]
        self.skipped = outcome == "skipped"
        self.failed = outcome == "failed"
        self.when = when
        self.duration = 12.4
        self.longrepr = ("f.yaml", 1, f"Skipped: {reason}") if self.skipped else None


def test_compat_table_cells_are_pass_fail_and_numbered_skip_reasons(tmp_path: Path) -> None:
    combos = [Combo(15, "moto"), Combo(16, "moto"), Combo(18, "moto")]
    table = CompatTable(tmp_path / "compat.md", "local", combos)
    table.pytest_runtest_logreport(_Report("pg15-moto", "passed"))  # type: ignore[arg-type]
    table.pytest_runtest_logreport(_Report("pg16-moto", "failed"))  # type: ignore[arg-type]
    table.pytest_runtest_logreport(
        _Report("pg18-moto", "skipped", "setup", "needs PostgreSQL 17")  # type: ignore[arg-type]
    )
    text = table.render()
    assert "| walk | pass (12 s) | **FAIL** | skipped [1] |" in text
    assert "1. needs PostgreSQL 17" in text
    assert "1 passed, 1 failed, 1 skipped" in text
    table.pytest_sessionfinish(None, 0)  # type: ignore[arg-type]
    assert "<!-- compat-table:local:begin -->" in (tmp_path / "compat.md").read_text()


@pytest.mark.parametrize(("args", "problem"), [(["--postgres", "99"], "PostgreSQL 99 is not")])
def test_run_scenario_cli_unavailable_major_exits_2_naming_it(
    args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pgback.main import run

    assert run(["run-scenario", "readme-walkthrough", *args]) == 2
    assert problem in capsys.readouterr().err
