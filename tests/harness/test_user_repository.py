"""The harness in a team's own repository: a folder outside this one, holding only its scenario,
its schema and its settings, run by pytest (the plugin's entry point) and by run-scenario."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user-repo"


@pytest.fixture
def team_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # outside this repository: no conftest, no pyproject of ours above it
    root = tmp_path_factory.mktemp("team-repo")
    for name in ("schema.sql", "pgback.toml", "backup-roundtrip.yaml"):
        shutil.copy(EXAMPLE / name, root / name)
    return root


def test_user_repository_pytest_collects_and_passes_its_scenario(team_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=report.xml"],
        cwd=team_repo,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    case = ET.parse(team_repo / "report.xml").getroot().find(".//testcase")
    assert case is not None and case.get("name") == "backup-roundtrip"
    steps = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert list(steps)[:2] == ["step 1 create_bucket", "step 2 sql_file"]
    assert len(steps) == 8 and all(str(v).startswith("ok ") for v in steps.values())


def test_user_repository_run_scenario_by_path_passes(team_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pgback", "run-scenario", "./backup-roundtrip.yaml"],
        cwd=team_repo,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "scenario backup-roundtrip passed: 8 steps" in done.stdout
