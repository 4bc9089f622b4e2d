"""The compatibility table: scenario results per (PostgreSQL major, S3 server), written into
docs/compatibility.md by `pytest --compat-table docs/compatibility.md [--postgres ...] scenarios`.

Each backend's table lives between its own markers, so the local and the docker runs update
their parts of the same file. Cells: pass (seconds), FAIL, or skipped with the reason as a
numbered note under the table.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pgback.scenario.matrix import Combo


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


@dataclass
class CompatTable:
    path: Path
    backend: str
    combos: list[Combo]
    cells: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        scenario, combo = props.get("pgback_scenario"), props.get("pgback_combo")
        if not isinstance(scenario, str) or not isinstance(combo, str):
            return
        key = (scenario, combo)
        if report.skipped:
            self.cells[key] = self._note(_skip_reason(report))
        elif report.failed:
            self.cells[key] = "**FAIL**"
        elif report.when == "call" and key not in self.cells:
            self.cells[key] = f"pass ({report.duration:.0f} s)"

    def _note(self, reason: str) -> str:
        if reason not in self.notes:
            self.notes.append(reason)
        return f"skipped [{self.notes.index(reason) + 1}]"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.cells:
            return
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(replace_section(text, self.backend, self.render()), encoding="utf-8")

    def render(self) -> str:
        ids = [c.id for c in self.combos]
        scenarios = sorted({scenario for scenario, _ in self.cells})
        passed = sum(1 for v in self.cells.values() if v.startswith("pass"))
        failed = sum(1 for v in self.cells.values() if v == "**FAIL**")
        lines = [
            f"Backend **{self.backend}**, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on "
            f"{machine()}: {passed} passed, {failed} failed, "
            f"{len(self.cells) - passed - failed} skipped.",
            "",
            f"Command: `{_command()}`",
            "",
            "| scenario | " + " | ".join(_label(i) for i in ids) + " |",
            "|---|" + "---|" * len(ids),
        ]
        for scenario in scenarios:
            cells = [self.cells.get((scenario, i), "not run") for i in ids]
            lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines += [f"{n}. {reason}" for n, reason in enumerate(self.notes, start=1)]
        return "\n".join(lines)


def _label(combo_id: str) -> str:
    major, s3 = combo_id.split("-", 1)
    return f"{major.replace('pgdefault', 'default PG')} {s3}"


def _command() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv else "pytest", *sys.argv[1:]]
    if argv[0] in ("pytest", "__main__.py"):
        argv = ["python -m pytest", *argv[1:]]
    return " ".join([argv[0], shlex.join(argv[1:])]).strip()


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _markers(backend: str) -> tuple[str, str]:
    return f"<!-- compat-table:{backend}:begin -->", f"<!-- compat-table:{backend}:end -->"


def replace_section(text: str, backend: str, table: str) -> str:
    """`text` with the backend's table (between its markers) replaced, or appended."""
    begin, end = _markers(backend)
    block = f"{begin}\n{table}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + block + rest.split(end, 1)[1]
    return text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"
