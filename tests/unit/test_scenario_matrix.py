"""The scenario matrix: service pins in scenario files, and which combinations run or skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgback.scenario.matrix import Combo, MatrixError, Resolved, combinations, resolve
from pgback.scenario.model import ScenarioError
from pgback.scenario.schema import load_scenario
from pgback.testbed.majors import server_installs

# a step that reads nothing: these scenarios are about their services, not what they do
STEPS = "steps:\n  - advance_clock: 1s\n"


def _scenario(tmp_path: Path, services: str) -> Path:
    path = tmp_path / "scenarios" / "pinned.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"services:\n{services}\n{STEPS}")
    return path


def test_load_scenario_services_mapping_records_pins_and_s3_restriction(tmp_path: Path) -> None:
    scenario = load_scenario(
        _scenario(
            tmp_path,
            "  postgres1: {version: 15}\n  postgres2: {version: newest}\n"
            "  s3: {servers: [moto], reason: in-memory restart}",
        )
    )
    assert scenario.services == ("postgres1", "postgres2", "s3")
    assert scenario.versions == {"postgres1": 15, "postgres2": "newest"}
    assert scenario.s3_servers == ("moto",)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("  postgres1: {version: latest}", "postgres1.version must be a PostgreSQL major"),
        ("  postgres1: {servers: [moto]}", "unknown option(s) servers"),
        ("  s3: {version: 15}", "unknown option(s) version"),
    ],
)
def test_load_scenario_bad_service_option_names_file_and_problem(
    tmp_path: Path, services: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=r"pinned\.yaml:\d+: .*") as raised:
        load_scenario(_scenario(tmp_path, services))
    assert message in str(raised.value)


def test_combinations_without_options_is_the_single_default() -> None:
    assert combinations("local", None, None) == [Combo()]


def test_combinations_named_major_not_installed_is_an_error_saying_what_to_install() -> None:
    missing = next(m for m in (17, 14, 13, 19) if m not in server_installs())
    with pytest.raises(MatrixError, match=rf"PostgreSQL {missing} is not available"):
        combinations("local", str(missing), "moto")


def test_combinations_unknown_s3_server_is_an_error() -> None:
    with pytest.raises(MatrixError, match="S3 server 'garage' is not available"):
        combinations("local", None, "garage")


def test_combinations_all_is_every_available_pair() -> None:
    combos = combinations("local", "all", "moto")
    assert [c.postgres for c in combos] == list(server_installs())
    assert {c.s3 for c in combos} == {"moto"}


def test_resolve_pins_oldest_and_newest_and_follows_the_run_major(tmp_path: Path) -> None:
    majors = list(server_installs())
    if len(majors) < 2:
        pytest.skip("needs two PostgreSQL majors")
    scenario = load_scenario(
        _scenario(
            tmp_path, "  postgres1: {default_version: oldest}\n  postgres2: {version: newest}"
        )
    )
    assert resolve(scenario, Combo(), "local") == Resolved(
        {"postgres1": majors[0], "postgres2": majors[-1]}, "moto"
    )
    middle = majors[len(majors) // 2]
    assert resolve(scenario, Combo(middle, "moto"), "local") == Resolved(
        {"postgres1": middle, "postgres2": majors[-1]}, "moto"
    )


def test_resolve_s3_server_the_scenario_does_not_support_skips_with_the_reason(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(_scenario(tmp_path, "  s3: {servers: [moto], reason: why not}"))
    assert resolve(scenario, Combo(None, "rclone"), "local") == (
        "needs features of moto, not rclone: why not"
    )


def test_resolve_docker_majors_come_from_the_image_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGBACK_DOCKER_POSTGRES_IMAGE_15", "localhost/pgback-postgres:15")
    monkeypatch.setenv("PGBACK_DOCKER_POSTGRES_IMAGE_17", "localhost/pgback-postgres:17")
    scenario = load_scenario(_scenario(tmp_path, "  postgres1: {version: newest}"))
    assert resolve(scenario, Combo(), "docker") == Resolved({"postgres1": 17}, "moto")
    with pytest.raises(MatrixError, match="PGBACK_DOCKER_POSTGRES_IMAGE_16"):
        combinations("docker", "16", None)
