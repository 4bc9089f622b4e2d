"""Fixtures of the bad-input suite (its budgets and profiles: budget.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgback.testbed import S3Server

from .bed import Bed, make_bed


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    """A directory for the cases' files (Hypothesis runs many examples per test, so no
    function-scoped tmp_path)."""
    path = Path(tempfile.mkdtemp(prefix="pgback-badinput-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def bed(s3: S3Server, scratch: Path) -> Iterator[Bed]:
    """Real servers and complete sets for the command sweep (bed.py)."""
    workdir = scratch / "bed"
    workdir.mkdir()
    yield from make_bed(s3, workdir)
