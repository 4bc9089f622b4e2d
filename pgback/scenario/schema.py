"""Loading and validating scenario files; every error names file:line and what is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

import pgback.scenario.steps  # noqa: F401 - registers every step kind
from pgback.config import SECRET_KEYS
from pgback.scenario.model import Scenario, ScenarioError, Step, strip_lines
from pgback.scenario.registry import STEPS, validate_step_args

BACKENDS = ("local", "docker")
# `scratch`: a throwaway server a restore drill starts when it restores into it, of the major
# the set was dumped on (or its `version`)
SERVICES = ("postgres1", "postgres2", "scratch", "s3", "sidecar")
# what a postgres service may pin: a major, or one relative to the majors available
VERSION_WORDS = ("oldest", "newest")
_TOP_KEYS = {
    "description",
    "services",
    "backends",
    "config",
    "settings_file",
    "age_identity",
    "steps",
}
# a secret in a scenario may only be a stand-in: `generate` (a fresh throwaway value made when
# the step runs, e.g. an age identity that opens nothing), `generate:NAME` (one throwaway value
# per NAME for the whole run, so two steps can share it), or "" (unset)
SECRET_STANDINS = ("generate", "")


def is_secret_standin(value: Any) -> bool:
    return value in SECRET_STANDINS or (isinstance(value, str) and value.startswith("generate:"))


class _LineLoader(yaml.SafeLoader):
    """Records each mapping's line so errors can point at the file."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_scenario(path: Path) -> Scenario:
    """Parse and validate a scenario; ScenarioError(file:line: what) on the first problem."""
    try:
        data = yaml.load(path.read_text(), Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ScenarioError(
            f"not valid YAML: {exc.problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", path=path) from None
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a mapping with at least `steps`", path=path, line=1)
    unknown = set(data) - _TOP_KEYS - {"__line__"}
    if unknown:
        raise ScenarioError(
            f"unknown top-level key(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_TOP_KEYS))})",
            path=path,
            line=1,
        )
    services, pins = _services(data.get("services", []), path)
    backends = _string_list(data.get("backends", list(BACKENDS)), "backends", BACKENDS, path)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError("`steps` must be a non-empty list", path=path, line=data["__line__"])
    steps: list[Step] = []
    for index, raw in enumerate(raw_steps, start=1):
        steps.append(_parse_step(raw, index, path))
    config = strip_lines(data.get("config", {}) or {})
    if not isinstance(config, dict):
        raise ScenarioError("`config` must be a mapping of pgback settings", path=path, line=1)
    _refuse_secrets(config, "`config`", path)
    settings_file = _settings_file(data.get("settings_file"), path)
    for step in steps:
        _check_step_secrets(step, path)
        if "s3" not in services:
            _check_read_only(step, path)
    identity = data.get("age_identity")
    if identity not in (None, "generate"):
        raise ScenarioError("`age_identity` can only be `generate`", path=path, line=1)
    return Scenario(
        name=path.stem,
        path=path,
        description=str(data.get("description", "")).strip(),
        services=tuple(services),
        backends=tuple(backends),
        config=config,
        age_identity=identity == "generate",
        steps=tuple(steps),
        settings_file=settings_file,
        versions=pins["version"],
        default_versions=pins["default_version"],
        s3_servers=pins["s3_servers"],
        s3_reason=pins["s3_reason"],
    )


def _services(value: Any, path: Path) -> tuple[list[str], dict[str, Any]]:
    """`services` as a list of names, or a mapping of names to options:
    postgresN: {version: 15|oldest|newest} or {default_version: ...}; s3: {servers: [...],
    reason: why}."""
    pins: dict[str, Any] = {
        "version": {},
        "default_version": {},
        "s3_servers": None,
        "s3_reason": "",
    }
    if not isinstance(value, dict):
        return _string_list(value, "services", SERVICES, path), pins
    line = value.get("__line__", 1)
    names = [k for k in value if k != "__line__"]
    _string_list(names, "services", SERVICES, path)
    for name in names:
        options = strip_lines(value[name] or {})
        if not isinstance(options, dict):
            raise ScenarioError(
                f"services.{name} must be a mapping of options", path=path, line=line
            )
        allowed = {"version", "default_version"} if name.startswith("postgres") else set()
        allowed |= {"version"} if name == "scratch" else set()
        allowed |= {"servers", "reason"} if name == "s3" else set()
        unknown = set(options) - allowed
        if unknown:
            raise ScenarioError(
                f"services.{name}: unknown option(s) {', '.join(sorted(unknown))} "
                f"(allowed: {', '.join(sorted(allowed)) or 'none'})",
                path=path,
                line=line,
            )
        for key in ("version", "default_version"):
            if key in options:
                pins[key][name] = _version_pin(options[key], f"services.{name}.{key}", path, line)
        if "servers" in options:
            servers = options["servers"]
            if not isinstance(servers, list) or not all(isinstance(v, str) for v in servers):
                raise ScenarioError(
                    "services.s3.servers must be a list of names", path=path, line=line
                )
            pins["s3_servers"] = tuple(servers)
            pins["s3_reason"] = str(options.get("reason", ""))
    return names, pins


def _version_pin(value: Any, where: str, path: Path, line: int) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 9 < value < 100:
        return value
    if value in VERSION_WORDS:
        return str(value)
    raise ScenarioError(
        f"{where} must be a PostgreSQL major (e.g. 15) or one of {', '.join(VERSION_WORDS)}, "
        f"not {value!r}",
        path=path,
        line=line,
    )


def _refuse_secrets(settings: dict[str, Any], where: str, path: Path) -> None:
    found = sorted(k for k in set(settings) & SECRET_KEYS if not is_secret_standin(settings[k]))
    if found:
        raise ScenarioError(
            f"{where} sets the secret(s) {', '.join(found)}: a scenario file holds no secret; "
            "give them in the environment (PGBACK_<KEY> or PGBACK_<KEY>_FILE), or `generate` "
            "for a throwaway value made for the run",
            path=path,
            line=1,
        )


def _settings_file(value: Any, path: Path) -> Path | None:
    """The team's settings file, relative to the scenario file, read now to refuse secrets and
    report a broken file before any server starts."""
    if value is None:
        return None
    settings_path = Path(str(value)).expanduser()
    if not settings_path.is_absolute():
        settings_path = path.parent / settings_path
    try:
        data = tomllib.loads(settings_path.read_text())
    except OSError as exc:
        raise ScenarioError(
            f"settings_file {value!r}: cannot read {settings_path}: {exc.strerror}",
            path=path,
            line=1,
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(
            f"settings_file {value!r}: not TOML: {exc}", path=path, line=1
        ) from None
    _refuse_secrets(data, f"settings_file {value!r}", path)
    return settings_path


def _check_step_secrets(step: Step, path: Path) -> None:
    inner = step.args.get("args", {}) if step.kind == "expect_error" else step.args
    config = inner.get("config") or {}
    if not isinstance(config, dict):
        return
    for key in sorted(set(config) & SECRET_KEYS):
        if not is_secret_standin(config[key]):
            raise ScenarioError(
                f"{step.label}: config sets the secret {key}: a scenario file holds no secret; "
                f"use `{key}: generate` for a fresh throwaway value, or the environment",
                path=path,
                line=step.line,
            )


def _string_list(value: Any, key: str, allowed: tuple[str, ...], path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"`{key}` must be a list of names", path=path, line=1)
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ScenarioError(
            f"unknown {key} {', '.join(bad)} (allowed: {', '.join(allowed)})", path=path, line=1
        )
    return list(value)


def _parse_step(raw: Any, index: int, path: Path) -> Step:
    if isinstance(raw, str):
        raw = {raw: None, "__line__": None}
    if not isinstance(raw, dict):
        raise ScenarioError(f"step {index} must be a mapping like `- backup: {{}}`", path=path)
    line = raw.get("__line__") or 0
    keys = [k for k in raw if k != "__line__"]
    if len(keys) != 1:
        raise ScenarioError(
            f"step {index} must have exactly one step name, found {', '.join(keys) or 'none'}",
            path=path,
            line=line,
        )
    kind = keys[0]
    if kind not in STEPS:
        raise ScenarioError(
            f"step {index}: unknown step {kind!r} (known: {', '.join(sorted(STEPS))})",
            path=path,
            line=line,
        )
    value = raw[kind]
    try:
        args = validate_step_args(kind, value, path.parent)
    except ValueError as exc:
        raise ScenarioError(f"step {index} {kind}: {exc}", path=path, line=line) from None
    return Step(kind=kind, args=args, line=line, index=index)


# what a `pgback` step may run against the real bucket: commands that only read it
_READ_ONLY_COMMANDS = ("list", "show", "verify", "download", "restore", "config", "doctor")


def _check_read_only(step: Step, path: Path) -> None:
    """Without an `s3` service the scenario uses the real bucket from the environment (a restore
    drill): it must never write there, so read-only credentials suffice."""
    inner = step.args if step.kind != "expect_error" else step.args.get("args", {})
    kind = step.kind if step.kind != "expect_error" else step.args.get("step", "")
    spec = STEPS.get(kind)
    writes = spec is not None and spec.writes_storage and not inner.get("dry_run")
    if kind == "pgback":
        argv = [str(a) for a in inner.get("args") or []]
        words = [a for a in argv if not a.startswith("-")]
        writes = bool(words) and words[0] not in _READ_ONLY_COMMANDS
    if writes:
        raise ScenarioError(
            f"{step.label}: writes to the bucket, and this scenario has no `s3` service, so it "
            "uses the real one from the environment (a restore drill only reads it): add `s3` "
            "to `services` for a throwaway bucket, or drop the step",
            path=path,
            line=step.line,
        )
