"""The benchmark runs end to end at a tiny size: every measurement, a valid JSON, a table.

No timing assertions: this checks the benchmark's code, not pgback's speed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pgback.bench.cli import main
from pgback.bench.report import TARGETS

pytestmark = pytest.mark.integration

STEPS = ("a_floor", "b_pg_back_style", "c_pgback_backup", "d_pg_restore", "e_pgback_restore")


def test_bench_tiny_size_produces_every_measurement_and_valid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"

    code = main(["--size", "0.005", "--json", str(out), "--quiet"])

    assert code == 0
    result = json.loads(out.read_text())
    assert {"machine", "postgresql", "endpoint", "versions", "runs"} <= result.keys()
    assert result["machine"]["cores"] >= 1
    assert result["postgresql"]["server"].startswith("PostgreSQL")
    assert result["endpoint"]["kind"] in ("rclone", "moto")
    (run,) = result["runs"]
    assert run["dataset"]["rows"] > 0
    for step in STEPS:
        assert run[step]["seconds"] > 0, step
    assert run["a_floor"]["output_bytes"] > 0
    assert run["b_pg_back_style"]["dump_bytes"] > 0
    assert run["c_pgback_backup"]["database_object_bytes"] > 0
    for step in ("c_pgback_backup", "e_pgback_restore"):
        assert run[step]["peak_rss_mib"] > 0, step
        assert run[step]["disk_write_bytes"] >= 0, step
        assert run[step]["cpu_seconds"]["command_tree"] > 0, step
    assert run["c_pgback_backup"]["staged_bytes"] >= 0
    if run["files_written"]["checked"]:  # strace is installed
        assert run["files_written"]["staged_files"] == 0, run["files_written"]
    assert set(run["ratios"]) == {"c/a", "c/b", "e/d", "size c/b"}
    assert set(run["targets"]) == {name for name, _, _ in TARGETS}
    assert "(e) `pgback restore latest`" in capsys.readouterr().out


def test_bench_sizes_option_rejects_a_non_positive_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--sizes", "0.5,0"])

    assert exit_info.value.code == 2
    assert "sizes must be positive" in capsys.readouterr().err


def test_bench_many_databases_with_a_baseline_runs_both_engines_interleaved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    checkout = Path(__file__).resolve().parents[2]  # this checkout stands for the baseline

    args = ["--size", "0.005", "--databases", "3", "--baseline", str(checkout)]

    code = main([*args, "--json", str(out), "--quiet"])

    assert code == 0
    (major,) = json.loads(out.read_text())["majors"]
    many = major["many"]
    assert many["databases"]["count"] == 3
    names = ("jobs1", "jobs1_baseline", "jobs4", "jobs4_baseline")
    for name in ("loop", *names):
        assert many[name]["seconds"] > 0, name
        assert many[name]["cpu_seconds"]["command_tree"] > 0, name
    assert set(many["ratios"]) == {f"{name}/loop" for name in names}
    table = capsys.readouterr().out
    assert "`pgback backup`, jobs = 4, the baseline engine" in table
    assert "CPU ms per database" in table


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning apart needs 2 cores")
def test_bench_data_section_restores_every_row_from_both_feeds_free_and_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data-section.json"

    code = main(
        ["--data-section", "--size", "0.005", "--repeat", "2", "--json", str(out), "--quiet"]
    )

    assert code == 0
    result = json.loads(out.read_text())["data_section"]
    assert result["rows"] > 0
    for mode in ("free", "pinned"):
        for feed in ("file", "z0file", "stream"):
            rounds = result["rounds"][mode][feed]
            assert len(rounds) == 2, (mode, feed)
            # every round restored the whole table (the mode checks the count itself too)
            assert all(r["rows"] == result["rows"] for r in rounds), rounds
            assert all(r["server_cpu"] > 0 and r["seconds"] > 0 for r in rounds), rounds
    assert "(e) pgback's read pipeline" in capsys.readouterr().out


def test_bench_data_section_measures_one_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-section", "--sizes", "0.5,1"]) == 2
    assert "--data-section measures one size" in capsys.readouterr().err
