"""Loading the settings from every layer.

Precedence: defaults < config file (TOML) < environment (`PGBACK_<KEY>`, then the seed sidecar's
aliases) < command-line flags. Every secret can also come from `PGBACK_<KEY>_FILE`. Every problem
is collected and reported at once (ConfigError, exit code 2).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import ParseResult, urlparse

from pgback.config.databases import TABLE as DATABASES_TABLE
from pgback.config.databases import DatabaseOptions, load_databases
from pgback.config.servers import for_server, parse_servers
from pgback.config.settings import KEYS, Settings
from pgback.errors import ConfigError
from pgback.location import parse_location
from pgback.secret import read_secret_file
from pgback.text import brief, plain


def _read_secret_file(path: str, env_name: str, problems: list[str]) -> str | None:
    try:
        return read_secret_file(path)
    except OSError as exc:
        problems.append(f"{env_name}: cannot read {plain(path)}: {exc.strerror or exc}")
    except ValueError as exc:
        problems.append(f"{env_name}: {plain(path)}: {exc}")
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


# a settings file is a few kB: a bigger one is the wrong file (or /dev/zero)
MAX_CONFIG_FILE = 1024 * 1024


def _raw_from_file(
    path: Path, problems: list[str], databases: dict[str, DatabaseOptions]
) -> dict[str, tuple[Any, str]]:
    shown = plain(str(path))
    try:
        with path.open("rb") as handle:
            content = handle.read(MAX_CONFIG_FILE + 1)
        if len(content) > MAX_CONFIG_FILE:
            raise ValueError(f"larger than {MAX_CONFIG_FILE // 1024} KiB: not a settings file")
        data = tomllib.loads(content.decode("utf-8"))
    except FileNotFoundError:
        problems.append(f"config file {shown} does not exist")
        return {}
    except OSError as exc:
        problems.append(f"config file {shown}: {exc.strerror or exc}")
        return {}
    except UnicodeDecodeError:
        problems.append(f"config file {shown}: not UTF-8 text (TOML files are UTF-8)")
        return {}
    except ValueError as exc:  # tomllib.TOMLDecodeError is one
        problems.append(f"config file {shown}: {exc}")
        return {}
    found: dict[str, tuple[Any, str]] = {}
    for name, value in data.items():
        if name == "servers":  # an array of tables, not a key: parse_servers reads it
            found[name] = (value, f"file {shown}")
            continue
        if name == DATABASES_TABLE:
            databases.update(load_databases(value, path, problems))
            continue
        if name not in KEYS:
            problems.append(f"config file {shown}: unknown key {brief(name)}")
            continue
        found[name] = (value, f"file {shown}")
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
    # an empty --config is a mistake (`--config "$UNSET"`); an empty PGBACK_CONFIG is unset
    config_path = config_file if config_file is not None else env.get("PGBACK_CONFIG")
    if config_path == "" and config_file is not None:
        problems.append("--config is empty: name the settings file, or leave --config out")
    elif config_path:
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
            shown = "***" if spec.secret else brief(value)
            problems.append(f"{name} ({source}) = {shown}: {exc}")
            continue
        sources[name] = source

    _apply_repository(values, sources, problems)
    # cross-key checks run on the values that did parse, so a bad value does not hide them:
    # every problem is reported at once; each says where its keys were set (`origins`)
    origins: dict[str, str] = {}
    settings = Settings(
        **values, sources=sources, warnings=tuple(_unknown_env(env)), databases=databases
    )
    for problem, keys in _cross_checks(settings):
        problems.append(problem)
        origins[problem] = _origin(settings, keys)
    if servers_raw is not None:
        settings = replace(settings, servers=parse_servers(*servers_raw, problems))
        for entry in settings.servers:
            server_settings = for_server(settings, entry)
            for problem, keys in _cross_checks(server_settings):
                if problem not in problems:
                    named = f"[[servers]] {entry.name!r}: {problem}"
                    problems.append(named)
                    origins[named] = _origin(server_settings, keys)
    if problems:
        raise ConfigError(problems, origins={k: v for k, v in origins.items() if v})
    return _encryption_warning(settings)


def _origin(settings: Settings, keys: tuple[str, ...]) -> str:
    """Where the keys of a cross-key problem were set: `jobs from env PGBACK_JOBS, ...`."""
    return ", ".join(
        f"{key} from {settings.sources[key]}" for key in keys if key in settings.sources
    )


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


def _cross_checks(s: Settings) -> list[tuple[str, tuple[str, ...]]]:
    """Checks that involve several keys, or that a value alone cannot show: each problem with
    the keys it is about."""
    problems: list[tuple[str, tuple[str, ...]]] = []

    def problem(text: str, *keys: str) -> None:
        problems.append((text, keys))

    if s.encrypt and not s.cipher_public_key and not s.cipher_pass:
        problem(
            "encrypt is on but neither cipher_public_key (age1...) nor cipher_pass is set",
            "encrypt",
        )
    if s.cipher_public_key and s.cipher_pass and s.encrypt:
        problem(
            "set either cipher_public_key or cipher_pass, not both",
            "cipher_public_key",
            "cipher_pass",
        )
    for key in s.cipher_public_key:
        if not key.startswith("age1"):
            problem(
                f"cipher_public_key {key[:12]!r}...: not an age X25519 recipient (age1...)",
                "cipher_public_key",
            )
        elif not _valid_recipient(key):
            problem(
                f"cipher_public_key {key[:16]!r}...: not a valid age recipient (truncated or "
                "mistyped?)",
                "cipher_public_key",
            )
    if s.cipher_private_key:
        lines = s.cipher_private_key.reveal().splitlines()
        if not any(line.strip().startswith("AGE-SECRET-KEY-") for line in lines):
            problem(
                "cipher_private_key: not an age identity (AGE-SECRET-KEY-...)", "cipher_private_key"
            )
        elif not _valid_identities(s.cipher_private_key.reveal()):
            # what restore and verify would refuse; the line itself is never shown
            problem(
                "cipher_private_key: holds a line that is not an age identity (truncated or "
                "mistyped?); comments start with #",
                "cipher_private_key",
            )
    if s.host and not _valid_hosts(s.host):
        problem(
            f"host {brief(s.host)}: not a host name, an IP address or a socket directory",
            "host",
        )
    if s.s3_endpoint:
        parsed = _parse_url(s.s3_endpoint if "://" in s.s3_endpoint else "//" + s.s3_endpoint)
        if (
            parsed is None
            or parsed.scheme not in ("", "http", "https")
            or not parsed.hostname
            or not _valid_port(parsed)
        ):
            problem(
                f"s3_endpoint {brief(s.s3_endpoint)}: not a URL like https://host:port",
                "s3_endpoint",
            )
    if s.webhook_url and not _http_url(s.webhook_url):
        problem(f"webhook_url {brief(s.webhook_url)}: must be an http(s) URL", "webhook_url")
    if s.ping_url and not _http_url(s.ping_url.reveal()):
        problem("ping_url: must be an http(s) URL (like https://hc-ping.com/UUID)", "ping_url")
    # time zones are checked even when nothing uses them yet: `pgback config` must say what
    # `serve` and `purge` would refuse
    cron_zone_ok = _valid_zone(s.cron_timezone)
    if not cron_zone_ok:
        problem(
            f"cron_timezone {brief(s.cron_timezone)}: not a time zone (like UTC or Europe/Paris)",
            "cron_timezone",
        )
    if s.retention_timezone and not _valid_zone(s.retention_timezone):
        problem(
            f"retention_timezone {brief(s.retention_timezone)}: not a time zone (like UTC or "
            "Europe/Paris)",
            "retention_timezone",
        )
    if s.backup_cron:
        from pgback.schedule import validate_cron  # local: keeps config importable alone

        # a bad zone is reported above, once
        error = validate_cron(s.backup_cron, s.cron_timezone if cron_zone_ok else "UTC")
        if error:
            problem(f"backup_cron {brief(s.backup_cron)}: {error}", "backup_cron")
    if s.drill_cron:
        from pgback.schedule import validate_cron  # local: keeps config importable alone

        error = validate_cron(s.drill_cron, s.cron_timezone if cron_zone_ok else "UTC")
        if error:
            problem(f"drill_cron {brief(s.drill_cron)}: {error}", "drill_cron")
        if not s.drill_file:
            problem(
                "drill_cron is set but drill_file is not: name the drill's scenario",
                "drill_cron",
                "drill_file",
            )
    if s.health_listen and not _valid_listen(s.health_listen):
        problem(f"health_listen {brief(s.health_listen)}: expected HOST:PORT", "health_listen")
    overlap = set(s.include_dbs) & set(s.exclude_dbs)
    if overlap:
        problem(
            f"databases both included and excluded: {', '.join(sorted(overlap))}",
            "include_dbs",
            "exclude_dbs",
        )
    return problems


def _valid_recipient(key: str) -> bool:
    from pgback.adapters.crypto import parse_recipients  # local: keeps config importable alone

    try:
        parse_recipients([key])
    except ConfigError:
        return False
    return True


def _valid_identities(text: str) -> bool:
    from pgback.adapters.crypto import parse_identities  # local: like _valid_recipient
    from pgback.errors import CryptoError

    try:
        parse_identities(text)
    except CryptoError:
        return False
    return True


def _valid_hosts(text: str) -> bool:
    """libpq's `host`: names, addresses or socket directories, comma-separated; a name must
    be one the resolver can be asked for (IDNA: no empty label, none over 63 characters)."""
    for host in text.split(","):
        if host.startswith("/"):
            continue
        try:
            host.encode("idna")
        except UnicodeError:
            return False
    return True


def _valid_port(parsed: ParseResult) -> bool:
    try:
        parsed.port  # noqa: B018 (urllib checks the port when it is read)
    except ValueError:
        return False
    return True


def _parse_url(text: str) -> ParseResult | None:
    """urlparse, or None where it raises (an unbalanced '[' is an invalid IPv6 address)."""
    try:
        return urlparse(text)
    except ValueError:
        return None


def _http_url(text: str) -> bool:
    parsed = _parse_url(text)
    if parsed is None:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname) and _valid_port(parsed)


def _valid_listen(text: str) -> bool:
    _host, sep, port = text.rpartition(":")
    return bool(sep) and port.isascii() and port.isdigit() and 0 < int(port) < 65536


# an IANA zone key; zoneinfo itself recurses on a long enough key with many slashes
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-./]{1,255}")


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # local: like the other validators

    if not _ZONE_KEY.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
