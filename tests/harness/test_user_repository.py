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
    """The example repository, copied outside this one: no conftest, no pyproject of ours."""
    root = tmp_path_factory.mktemp("team-repo")
    for name in ("schema.sql", "pgback.toml", "backup-roundtrip.yaml"):
        shutil.copy(EXAMPLE / name, root / name)
    return root


@pytest.fixture
def bare_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding nothing but a scenario file and a .sql schema (no settings file)."""
    root = tmp_path_factory.mktemp("bare-repo")
    shutil.copy(EXAMPLE / "schema.sql", root / "schema.sql")
    text = (EXAMPLE / "backup-roundtrip.yaml").read_text()
    lines = [line for line in text.splitlines(keepends=True) if "settings_file" not in line]
    (root / "backup-roundtrip.yaml").write_text("".join(lines))
    assert sorted(p.name for p in root.iterdir()) == ["backup-roundtrip.yaml", "schema.sql"]
    return root


def test_user_repository_pytest_collects_and_passes_its_scenario(bare_repo: Path) -> None:
    team_repo = bare_repo
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
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    steps = {k: v for k, v in properties.items() if str(k).startswith("step ")}
    assert list(steps)[:2] == ["step 1 create_bucket", "step 2 sql_file"]
    assert len(steps) == 8 and all(str(v).startswith("ok ") for v in steps.values())


@pytest.mark.parametrize("repo", ["team_repo", "bare_repo"])
def test_user_repository_run_scenario_by_path_passes(
    repo: str, request: pytest.FixtureRequest
) -> None:
    team_repo: Path = request.getfixturevalue(repo)
    done = subprocess.run(
        [sys.executable, "-m", "pgback", "run-scenario", "./backup-roundtrip.yaml"],
        cwd=team_repo,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "scenario backup-roundtrip passed: 8 steps" in done.stdout
