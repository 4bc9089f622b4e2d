"""Loading the settings from every layer.

Precedence: defaults < config file (TOML) < environment (`PGBACK_<KEY>`, then the seed sidecar's
aliases) < command-line flags. Every secret can also come from `PGBACK_<KEY>_FILE`. Every problem
is collected and reported at once (ConfigError, exit code 2).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pgback.config.databases import TABLE as DATABASES_TABLE
from pgback.config.databases import DatabaseOptions, load_databases
from pgback.config.servers import for_server, parse_servers
from pgback.config.settings import KEYS, Settings
from pgback.errors import ConfigError
from pgback.location import parse_location


def _read_secret_file(path: str, env_name: str, problems: list[str]) -> str | None:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        problems.append(f"{env_name}: cannot read {path}: {exc.strerror}")
        return None


def secret_from_env(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret that is not a setting (PGBACK_TARGET_PASSWORD): `NAME` or the file `NAME_FILE`
    names, read the way every setting's secret is; ConfigError when that file is unreadable."""
    env = os.environ if env is None else env
    problems: list[str] = []
    if env.get(name + "_FILE"):
        value = _read_secret_file(env[name + "_FILE"], name + "_FILE", problems)
        if problems:
            raise ConfigError(problems)
        return value
    return env.get(name)


def _raw_from_env(env: Mapping[str, str], problems: list[str]) -> dict[str, tuple[Any, str]]:
    """Raw values found in the environment, with where each came from."""
    found: dict[str, tuple[Any, str]] = {}
    for spec in KEYS.values():
        candidates = [spec.env, *spec.aliases]
        for name in candidates:
            file_var = name + "_FILE"
            if spec.secret and env.get(file_var):
                value = _read_secret_file(env[file_var], file_var, problems)
                if value is not None:
                    found[spec.name] = (value, f"env {file_var}")
                break
            if name in env:
                found[spec.name] = (env[name], f"env {name}")
                break
    return found


def _raw_from_file(
    path: Path, problems: list[str], databases: dict[str, DatabaseOptions]
) -> dict[str, tuple[Any, str]]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        problems.append(f"config file {path} does not exist")
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"config file {path}: {exc}")
        return {}
    found: dict[str, tuple[Any, str]] = {}
    for name, value in data.items():
        if name == "servers":  # an array of tables, not a key: parse_servers reads it
            found[name] = (value, f"file {path}")
            continue
        if name == DATABASES_TABLE:
            databases.update(load_databases(value, path, problems))
            continue
        if name not in KEYS:
            problems.append(f"config file {path}: unknown key {name!r}")
            continue
        found[name] = (value, f"file {path}")
    return found


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from every layer; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    raw: dict[str, tuple[Any, str]] = {}
    databases: dict[str, DatabaseOptions] = {}
    config_path = config_file or env.get("PGBACK_CONFIG")
    if config_path:
        raw.update(_raw_from_file(Path(config_path), problems, databases))
    servers_raw = raw.pop("servers", None)
    raw.update(_raw_from_env(env, problems))
    for name, value in (overrides or {}).items():
        if name not in KEYS:
            problems.append(f"unknown setting {name!r}")
        elif value is not None:
            raw[name] = (value, "flag")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (value, source) in raw.items():
        spec = KEYS[name]
        try:
            values[name] = spec.parse(value)
        except ValueError as exc:
            shown = "***" if spec.secret else repr(value)
            problems.append(f"{name} ({source}) = {shown}: {exc}")
            continue
        sources[name] = source

    _apply_repository(values, sources, problems)
    # cross-key checks run on the values that did parse, so a bad value does not hide them:
    # every problem is reported at once
    settings = Settings(
        **values, sources=sources, warnings=tuple(_unknown_env(env)), databases=databases
    )
    problems.extend(_cross_checks(settings))
    if servers_raw is not None:
        settings = replace(settings, servers=parse_servers(*servers_raw, problems))
        for entry in settings.servers:
            for problem in _cross_checks(for_server(settings, entry)):
                if problem not in problems:
                    problems.append(f"[[servers]] {entry.name!r}: {problem}")
    if problems:
        raise ConfigError(problems)
    return _encryption_warning(settings)


# PGBACK_ variables that are not settings: read by other parts (restore target, test bed,
# scenario harness, container scripts)
_OTHER_ENV = (
    "PGBACK_CONFIG",
    "PGBACK_TARGET",
    "PGBACK_TARGET_PASSWORD",
    "PGBACK_TESTBED_",
    "PGBACK_PG_BINDIR",
    "PGBACK_DOCKER_",
    "PGBACK_SCENARIOS_DIR",
    "PGBACK_BUILD_",
    "PGBACK_SIDECAR_",
    "PGBACK_SET_ID",
    "PGBACK_SERVER",
    "PGBACK_STATUS",
    "PGBACK_BENCH_",
)


def _apply_repository(values: dict[str, Any], sources: dict[str, str], problems: list[str]) -> None:
    """`repository = s3://BUCKET/PREFIX` stands for s3_bucket and upload_prefix: fill them in,
    and refuse a bucket or prefix set elsewhere to something else."""
    text = values.get("repository")
    if not text:
        return
    origin = f"repository ({sources['repository']})"
    try:
        location = parse_location(text)
    except ValueError as exc:
        problems.append(f"{origin} = {text!r}: {exc}")
        values.pop("repository")
        return
    values["repository"] = str(location)
    if location.scheme != "s3":
        return
    for key, wanted in (("s3_bucket", location.bucket), ("upload_prefix", location.prefix)):
        have = values.get(key)
        if key == "upload_prefix" and not wanted:
            continue  # s3://bucket alone: upload_prefix still applies
        if have not in (None, "") and have != wanted:
            problems.append(
                f"{origin} says {key} {wanted!r} but {key} ({sources[key]}) is {have!r}: "
                "set one of them"
            )
            continue
        values[key] = wanted
        sources[key] = origin


def _unknown_env(env: Mapping[str, str]) -> list[str]:
    """A misspelled PGBACK_ variable would be silently ignored: name it, with a guess."""
    known = {spec.env for spec in KEYS.values()}
    warnings = []
    for name in sorted(env):
        base = name.removesuffix("_FILE")
        if not name.startswith("PGBACK_") or base in known or name.startswith(_OTHER_ENV):
            continue
        guess = difflib.get_close_matches(base, known, n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        warnings.append(f"ignoring unknown environment variable {name}{hint}")
    return warnings


def _encryption_warning(settings: Settings) -> Settings:
    if not settings.encrypt and (settings.cipher_public_key or settings.cipher_pass):
        note = (
            "cipher_public_key or cipher_pass is set but encrypt is off: backups are NOT encrypted"
        )
        return replace(settings, warnings=(*settings.warnings, note))
    return settings


def _cross_checks(s: Settings) -> list[str]:
    """Checks that involve several keys."""
    problems: list[str] = []
    if s.encrypt and not s.cipher_public_key and not s.cipher_pass:
        problems.append(
            "encrypt is on but neither cipher_public_key (age1...) nor cipher_pass is set"
        )
    if s.cipher_public_key and s.cipher_pass and s.encrypt:
        problems.append("set either cipher_public_key or cipher_pass, not both")
    for key in s.cipher_public_key:
        if not key.startswith("age1"):
            problems.append(
                f"cipher_public_key {key[:12]!r}...: not an age X25519 recipient (age1...)"
            )
        elif not _valid_recipient(key):
            problems.append(
                f"cipher_public_key {key[:16]!r}...: not a valid age recipient (truncated or "
                "mistyped?)"
            )
    if s.cipher_private_key and not any(
        line.strip().startswith("AGE-SECRET-KEY-")
        for line in s.cipher_private_key.reveal().splitlines()
    ):
        problems.append("cipher_private_key: not an age identity (AGE-SECRET-KEY-...)")
    if s.s3_endpoint:
        parsed = urlparse(s.s3_endpoint if "://" in s.s3_endpoint else "//" + s.s3_endpoint)
        if parsed.scheme not in ("", "http", "https") or not parsed.hostname:
            problems.append(f"s3_endpoint {s.s3_endpoint!r}: not a URL like https://host:port")
    if s.webhook_url and urlparse(s.webhook_url).scheme not in ("http", "https"):
        problems.append(f"webhook_url {s.webhook_url!r}: must be an http(s) URL")
    if s.ping_url and urlparse(s.ping_url.reveal()).scheme not in ("http", "https"):
        problems.append("ping_url: must be an http(s) URL (like https://hc-ping.com/UUID)")
    if s.backup_cron:
        from pgback.schedule import validate_cron  # local: keeps config importable alone

        error = validate_cron(s.backup_cron, s.cron_timezone)
        if error:
            problems.append(f"backup_cron {s.backup_cron!r}: {error}")
    if s.drill_cron:
        from pgback.schedule import validate_cron  # local: keeps config importable alone

        error = validate_cron(s.drill_cron, s.cron_timezone)
        if error:
            problems.append(f"drill_cron {s.drill_cron!r}: {error}")
        if not s.drill_file:
            problems.append("drill_cron is set but drill_file is not: name the drill's scenario")
    calendar = (s.keep_daily, s.keep_weekly, s.keep_monthly, s.keep_yearly)
    if any(calendar) and not _valid_zone(s.retention_zone):
        which = "retention_timezone" if s.retention_timezone else "cron_timezone"
        problems.append(f"{which} {s.retention_zone!r}: not a time zone (like UTC or Europe/Paris)")
    if s.health_listen and not _valid_listen(s.health_listen):
        problems.append(f"health_listen {s.health_listen!r}: expected HOST:PORT")
    overlap = set(s.include_dbs) & set(s.exclude_dbs)
    if overlap:
        problems.append(f"databases both included and excluded: {', '.join(sorted(overlap))}")
    return problems


def _valid_recipient(key: str) -> bool:
    from pgback.adapters.crypto import parse_recipients  # local: keeps config importable alone

    try:
        parse_recipients([key])
    except ConfigError:
        return False
    return True


def _valid_listen(text: str) -> bool:
    _host, sep, port = text.rpartition(":")
    return bool(sep) and port.isdigit() and 0 < int(port) < 65536


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # local: like the other validators

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
