"""Scenario files as a team writes them: every mistake is caught when the file is loaded (before
any server starts), with file:line and what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.scenario.model import ScenarioError
from pgback.scenario.reference import steps_markdown
from pgback.scenario.schema import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def scenario(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value)


def test_scenario_file_missing_sql_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, "services: [postgres1]\nsteps:\n  - sql_file: {file: nope.sql}\n")

    assert error_of(path) == (
        f"{path}:3: step 1 sql_file: file: no file 'nope.sql' (looked for {tmp_path}/nope.sql; "
        "paths are relative to the scenario file)"
    )


def test_scenario_file_paths_are_relative_to_the_file_not_the_directory(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "schema.sql").write_text("SELECT 1;\n")
    path = scenario(tmp_path / "ci", "steps:\n  - sql_file: schema.sql\n")

    loaded = load_scenario(path)

    assert loaded.steps[0].args["file"] == tmp_path / "ci" / "schema.sql"


def test_scenario_file_unknown_step_argument_names_what_is_allowed(tmp_path: Path) -> None:
    path = scenario(tmp_path, "steps:\n  - expect_rows: {server: postgres2, cuont: 3}\n")

    message = error_of(path)

    assert message.startswith(f"{path}:2: step 1 expect_rows: unknown option(s) cuont (allowed:")


def test_scenario_file_expectation_that_cannot_be_evaluated_is_refused(tmp_path: Path) -> None:
    row_count = scenario(tmp_path, "steps:\n  - expect_rows: {table: t}\n", "a.yaml")
    query = scenario(tmp_path, "steps:\n  - expect_query: {query: SELECT 1, rows: 1}\n", "b.yaml")

    assert "needs exactly one of `count`, `at_least` or `same_as`" in error_of(row_count)
    assert "`rows` is a list of rows, each a list of values" in error_of(query)


def test_scenario_file_secret_in_config_is_refused(tmp_path: Path) -> None:
    path = scenario(tmp_path, "config: {s3_secret: hunter2}\nsteps:\n  - backup: {}\n")

    message = error_of(path)

    assert "sets the secret(s) s3_secret" in message and "hunter2" not in message


def test_scenario_file_secret_in_settings_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pgback.toml").write_text('password = "hunter2"\n')
    path = scenario(tmp_path, "settings_file: pgback.toml\nsteps:\n  - backup: {}\n")

    message = error_of(path)

    assert "settings_file 'pgback.toml' sets the secret(s) password" in message
    assert "hunter2" not in message


def test_scenario_file_step_secret_only_as_a_generated_stand_in(tmp_path: Path) -> None:
    literal = scenario(
        tmp_path,
        "steps:\n  - restore: {config: {cipher_private_key: AGE-SECRET-KEY-1XYZ}}\n",
        "a.yaml",
    )
    generated = scenario(
        tmp_path, "steps:\n  - restore: {config: {cipher_private_key: generate}}\n", "b.yaml"
    )

    assert "step 1 restore: config sets the secret cipher_private_key" in error_of(literal)
    assert "AGE-SECRET-KEY-1XYZ" not in error_of(literal)
    assert load_scenario(generated).steps[0].args["config"]["cipher_private_key"] == "generate"


def test_docs_scenarios_step_table_is_the_registry() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text()

    table = text[text.index("| step | options") :]
    assert table == steps_markdown(), (
        "docs/scenarios.md is stale: regenerate its table with "
        "`pgback run-scenario --list-steps --markdown`"
    )
