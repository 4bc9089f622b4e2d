"""The README's sidecar quick start, run for real: its commands as written, taken from the
README (so the two cannot drift), through Docker Compose v2 on the engine at DOCKER_HOST
(podman here: `source scripts/container-engine.sh`), with compose.local.yaml standing in for
the images that cannot be pulled here. Build, `up --wait`, a backup, `list`, `health`,
`/metrics`, a restore through the restore-only sidecar into postgres2 with its row count, the
seed's cron check (a schedule two minutes ahead fires once), and `down -v` leaves nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .compose_run import (
    COMPOSE_FILES,
    ENGINE_CLI,
    ROOT,
    HealthPump,
    QuickStart,
    force_remove,
    project_leftovers,
    readme_commands,
)

pytestmark = pytest.mark.docker

SET_ID = re.compile(r"\b(\d{8}T\d{6}Z)\b")
ROWS = "1000"  # the README's CREATE TABLE items AS SELECT generate_series(1, 1000)


def engine_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False
    probe = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--unix-socket",
            host[len("unix://") :],
            "http://d/_ping",
        ],
        capture_output=True,
        text=True,
    )
    return probe.stdout == "OK"


def local_images() -> list[str]:
    """The locally built images the compose files name (stand-ins for what cannot be pulled)."""
    text = "".join((ROOT / name).read_text() for name in COMPOSE_FILES.split(":"))
    return sorted(set(re.findall(r"(localhost/[\w./-]+:[\w.-]+)", text)))


def image_present(image: str) -> bool:
    probe = subprocess.run([ENGINE_CLI, "image", "inspect", image], capture_output=True)
    return probe.returncode == 0


LOCAL_IMAGES = local_images()


def complete_sets(listing: str) -> list[str]:
    return [
        m[1] for line in listing.splitlines() if "complete" in line and (m := SET_ID.search(line))
    ]


def test_readme_lists_the_quick_start_commands_in_their_order() -> None:
    commands = readme_commands()
    order = [
        "age-keygen -o age.key",
        "docker compose build",
        "docker compose up -d postgres1 s3 pgback1 --wait",
        "docker compose exec pgback1 pgback backup",
        "docker compose exec pgback2 pgback restore latest",
        "export BACKUP_CRON=",
        "docker compose down -v",
    ]
    positions = [next(i for i, c in enumerate(commands) if c.startswith(o)) for o in order]
    assert positions == sorted(positions), commands


@pytest.mark.skipif(
    not engine_answers(),
    reason="no Docker engine at DOCKER_HOST (source scripts/container-engine.sh)",
)
def test_readme_compose_quick_start_backs_up_restores_runs_cron_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    missing = [image for image in LOCAL_IMAGES if not image_present(image)]
    assert not missing, f"{missing}: `source scripts/container-engine.sh` builds them"
    # compose.yaml's S3 healthcheck runs curl, as upstream's image (and its compose files) do
    for s3_image in [i for i in LOCAL_IMAGES if "seaweedfs" in i]:
        has_curl = subprocess.run(
            [ENGINE_CLI, "run", "--rm", "--entrypoint", "curl", s3_image, "--version"],
            capture_output=True,
        )
        assert has_curl.returncode == 0, f"{s3_image} has no curl, which chrislusf/seaweedfs has"
    project = f"pgback-quickstart-{uuid.uuid4().hex[:8]}"
    run = QuickStart.prepare(tmp_path, os.environ, project)
    outputs: dict[str, str] = {}
    try:
        with HealthPump(project).running():
            for command in readme_commands():
                waited = re.match(r"sleep (\d+) && (.*)", command)
                if waited:  # the cron check: wait for the scheduled run, at most that long
                    wait_for_scheduled_set(run, before=outputs["list"], limit=int(waited[1]))
                result = run.run(command)
                assert result.returncode == 0, run.transcript()
                outputs[key_of(command)] = result.output
    finally:
        leftovers = project_leftovers(project)
        if any(leftovers.values()):
            force_remove(project)

    print(run.timings())
    # the backup, as `list` shows it, and what the health check and /metrics say
    (first,) = complete_sets(outputs["list"])
    assert outputs["health"].startswith("ok:"), run.transcript()
    assert re.search(r"^pgback_up 1$", outputs["metrics"], re.M), outputs["metrics"]
    assert re.search(r"^pgback_healthy 1$", outputs["metrics"], re.M), outputs["metrics"]
    # the restore through pgback2 brought the rows into postgres2
    assert outputs["count"].strip() == ROWS, run.transcript()
    # the cron check: the scheduled run made one more set, at the minute BACKUP_CRON named
    minute, hour = run.env["BACKUP_CRON"].split()[:2]
    scheduled = [s for s in complete_sets(outputs["cron list"]) if s != first]
    assert len(scheduled) == 1, outputs["cron list"]
    assert scheduled[0][9:13] == f"{int(hour):02d}{int(minute):02d}", (scheduled, minute, hour)
    # down -v: nothing of the project is left
    assert leftovers == {"containers": [], "volumes": [], "networks": []}, leftovers


def key_of(command: str) -> str:
    """A name for the output of the commands the test looks at."""
    for pattern, key in (
        (r"sleep \d+ && .*pgback list", "cron list"),
        (r"pgback1 pgback list", "list"),
        (r"pgback health", "health"),
        (r"/metrics", "metrics"),
        (r"count\(\*\)", "count"),
    ):
        if re.search(pattern, command):
            return key
    return command


def wait_for_scheduled_set(run: QuickStart, *, before: str, limit: int) -> None:
    """Until pgback1's log shows the scheduled backup complete (at most `limit` seconds): the
    README's `sleep` waits blindly, the test only as long as needed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        logs = subprocess.run(
            ["bash", "-c", "docker compose logs pgback1"],
            cwd=run.workdir,
            env=run.env,
            capture_output=True,
            text=True,
        ).stdout
        if re.search(r"backup set \d{8}T\d{6}Z complete", logs):
            return
        time.sleep(3)
    raise AssertionError(
        f"no scheduled backup within {limit}s; before: {before}\n{run.transcript()}"
    )
