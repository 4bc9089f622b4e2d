"""Loading the cron library starts no program (it would inherit pgback's secrets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_importing_the_scheduler_runs_no_file_command(tmp_path: Path) -> None:
    # a `file` first on PATH that leaves a trace when anything runs it
    trace = tmp_path / "file-was-run"
    fake = tmp_path / "bin" / "file"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {trace}\necho 'ELF 64-bit'\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "PGBACK_PASSWORD": "s3cr3t"}

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pgback.schedule import validate_cron as v; print(v('0 3 * * *'))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout.strip() == "None"
    assert not trace.exists(), trace.read_text()
