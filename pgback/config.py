"""One typed settings object.

Precedence: defaults < config file (TOML) < environment (`PGBACK_<KEY>`, then the seed sidecar's
aliases) < command-line flags. Every secret can also come from `PGBACK_<KEY>_FILE`. Every problem
is collected and reported at once (ConfigError, exit code 2).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pgback.durations import parse_duration
from pgback.errors import ConfigError
from pgback.secret import Secret


@dataclass(frozen=True)
class Settings:
    # where to connect (libpq's PG* variables work too; these override them)
    host: str | None = None
    port: int | None = None
    user: str | None = None
    dbname: str | None = None
    password: Secret | None = None
    pg_bin_dir: str | None = None
    # what to dump
    include_dbs: tuple[str, ...] = ()
    exclude_dbs: tuple[str, ...] = ()
    with_templates: bool = False
    no_role_passwords: bool = False
    jobs: int = 1
    compress: str = "zstd"
    compress_level: int = 1
    # encryption
    encrypt: bool = False
    cipher_public_key: tuple[str, ...] = ()
    cipher_private_key: Secret | None = None
    cipher_pass: Secret | None = None
    # storage
    upload_prefix: str = ""
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_key_id: Secret | None = None
    s3_secret: Secret | None = None
    s3_force_path: bool = False
    s3_tls: bool = True
    s3_part_size_mib: int = 8
    s3_max_attempts: int = 5
    s3_create_bucket: bool = False
    # several runners on one bucket: a running backup's mark older than this is a dead host's
    mark_stale_after: timedelta = timedelta(minutes=15)
    # retention
    purge_older_than: timedelta | None = None
    purge_min_keep: int | None = 0  # None means "all": keep everything
    keep_last: int | None = None
    # sidecar
    backup_cron: str | None = None
    cron_timezone: str = "UTC"
    disable_cron: bool = False
    run_on_start: bool = False
    lock_file: str | None = None
    state_dir: str = "/tmp/pgback"
    health_listen: str | None = None
    health_max_age: timedelta | None = None
    pre_backup_hook: tuple[str, ...] = ()
    post_backup_hook: tuple[str, ...] = ()
    webhook_url: str | None = None
    stop_grace_period: timedelta = timedelta(seconds=30)
    # output
    log_format: str = "text"
    log_level: str = "info"
    progress: str = "auto"

    # provenance of each non-default value, for `pgback config`
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # things worth saying that do not stop the run (a misspelled PGBACK_ variable...)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def purge_policy_set(self) -> bool:
        return self.purge_older_than is not None or self.keep_last is not None

    def redacted(self) -> dict[str, Any]:
        """Every key with its effective value, secrets replaced by `***`."""
        out: dict[str, Any] = {}
        for spec in KEYS.values():
            value = getattr(self, spec.name)
            if isinstance(value, Secret):
                out[spec.name] = "***" if value else ""
            elif isinstance(value, timedelta):
                out[spec.name] = f"{int(value.total_seconds())}s"
            elif isinstance(value, tuple):
                out[spec.name] = ",".join(value)
            elif spec.name == "purge_min_keep" and value is None:
                out[spec.name] = "all"
            else:
                out[spec.name] = value
        return out


# --- parsing of single values -------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _as_int(raw: Any, minimum: int = 0) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"must be at least {minimum}, got {value}")
    return value


def _as_list(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _as_str(raw: Any) -> str:
    return str(raw).strip()


def _as_opt_str(raw: Any) -> str | None:
    text = str(raw).strip()
    return text or None


def _as_secret(raw: Any) -> Secret | None:
    # secrets are not stripped inside: a passphrase may end with a space; a trailing
    # newline from a *_FILE is removed by the caller
    text = str(raw)
    return Secret(text) if text else None


def _as_duration_opt(raw: Any) -> timedelta | None:
    text = str(raw).strip()
    if not text or text.lower() in {"none", "never", "off"}:
        return None
    delta = parse_duration(text)
    if delta.total_seconds() <= 0:
        raise ValueError(f"must be positive, got {raw!r}")
    return delta


def _as_duration(raw: Any) -> timedelta:
    delta = _as_duration_opt(raw)
    if delta is None:
        raise ValueError("a duration is required")
    return delta


def _as_min_keep(raw: Any) -> int | None:
    if str(raw).strip().lower() == "all":
        return None
    return _as_int(raw)


def _as_opt_int(raw: Any) -> int | None:
    if str(raw).strip() == "":
        return None
    return _as_int(raw, minimum=1)


def _as_port(raw: Any) -> int | None:
    if str(raw).strip() == "":
        return None
    port = _as_int(raw, minimum=1)
    if port > 65535:
        raise ValueError(f"not a TCP port: {port}")
    return port


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return text

    return parse


def _as_jobs(raw: Any) -> int:
    return _as_int(raw, minimum=1)


def _as_level(raw: Any) -> int:
    level = _as_int(raw, minimum=1)
    if level > 22:
        raise ValueError(f"zstd levels go from 1 to 22, got {level}")
    return level


def _as_part_size(raw: Any) -> int:
    size = _as_int(raw, minimum=5)  # S3's minimum part size is 5 MiB
    if size > 5 * 1024:
        raise ValueError(f"S3 parts are at most 5 GiB, got {size} MiB")
    return size


def _as_mark_age(raw: Any) -> timedelta:
    age = _as_duration(raw)
    if age < timedelta(seconds=3):  # S3 stamps times to the second: shorter cannot be judged
        raise ValueError(f"must be at least 3s, got {raw!r}")
    return age


@dataclass(frozen=True)
class KeySpec:
    name: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    aliases: tuple[str, ...] = ()  # extra environment names (the seed sidecar's), lower priority

    @property
    def env(self) -> str:
        return "PGBACK_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _key(name: str, parse: Callable[[Any], Any], help: str, **kw: Any) -> tuple[str, KeySpec]:
    return name, KeySpec(name, parse, help, **kw)


KEYS: dict[str, KeySpec] = dict(
    [
        _key(
            "host",
            _as_opt_str,
            "PostgreSQL host (default: libpq's PGHOST)",
            aliases=("POSTGRES_HOST",),
        ),
        _key("port", _as_port, "PostgreSQL port (default: PGPORT)", aliases=("POSTGRES_PORT",)),
        _key("user", _as_opt_str, "PostgreSQL user (default: PGUSER)", aliases=("POSTGRES_USER",)),
        _key("dbname", _as_opt_str, "database to connect to for listing", aliases=("POSTGRES_DB",)),
        _key(
            "password",
            _as_secret,
            "PostgreSQL password (default: PGPASSWORD)",
            secret=True,
            aliases=("POSTGRES_PASSWORD",),
        ),
        _key("pg_bin_dir", _as_opt_str, "directory of pg_dump, pg_restore, psql (default: PATH)"),
        _key(
            "include_dbs",
            _as_list,
            "only these databases (comma-separated)",
            aliases=("INCLUDE_DBS",),
        ),
        _key(
            "exclude_dbs",
            _as_list,
            "skip these databases (comma-separated)",
            aliases=("EXCLUDE_DBS",),
        ),
        _key("with_templates", _as_bool, "also dump template databases that allow connections"),
        _key("no_role_passwords", _as_bool, "leave role passwords out of the globals dump"),
        _key("jobs", _as_jobs, "databases dumped (or restored) at once", aliases=("JOBS",)),
        _key("compress", _choice("zstd", "none"), "compression in the stream: zstd or none"),
        _key("compress_level", _as_level, "zstd level (1-22)"),
        _key("encrypt", _as_bool, "encrypt with age", aliases=("ENCRYPT",)),
        _key(
            "cipher_public_key",
            _as_list,
            "age recipients (age1..., comma-separated)",
            aliases=("AGE_CIPHER_PUBLIC_KEY",),
        ),
        _key(
            "cipher_private_key",
            _as_secret,
            "age identity (AGE-SECRET-KEY-...) to decrypt",
            secret=True,
            aliases=("AGE_CIPHER_PRIVATE_KEY",),
        ),
        _key(
            "cipher_pass",
            _as_secret,
            "passphrase (passphrase mode)",
            secret=True,
            aliases=("CIPHER_PASS",),
        ),
        _key(
            "upload_prefix",
            _as_str,
            "folder inside the bucket holding the sets",
            aliases=("UPLOAD_PREFIX",),
        ),
        _key("s3_bucket", _as_opt_str, "bucket name", aliases=("S3_BUCKET",)),
        _key(
            "s3_endpoint",
            _as_opt_str,
            "S3 endpoint URL (MinIO, Garage...; default AWS)",
            aliases=("S3_ENDPOINT",),
        ),
        _key("s3_region", _as_opt_str, "S3 region", aliases=("S3_REGION",)),
        _key(
            "s3_key_id",
            _as_secret,
            "S3 access key id (default: AWS_ACCESS_KEY_ID)",
            secret=True,
            aliases=("S3_KEY_ID",),
        ),
        _key(
            "s3_secret",
            _as_secret,
            "S3 secret key (default: AWS_SECRET_ACCESS_KEY)",
            secret=True,
            aliases=("S3_SECRET",),
        ),
        _key(
            "s3_force_path",
            _as_bool,
            "path-style addressing (MinIO and most self-hosted)",
            aliases=("S3_FORCE_PATH",),
        ),
        _key(
            "s3_tls",
            _as_bool,
            "use TLS for an endpoint given without a scheme",
            aliases=("S3_TLS",),
        ),
        _key(
            "s3_part_size_mib", _as_part_size, "multipart part size in MiB (grows for huge dumps)"
        ),
        _key("s3_max_attempts", _as_jobs, "attempts per S3 request (retries with backoff)"),
        _key("s3_create_bucket", _as_bool, "`backup` and `serve` create a missing bucket"),
        _key(
            "mark_stale_after",
            _as_mark_age,
            "a running backup's mark not refreshed for this long is a dead host's (purge may "
            "then remove its set)",
        ),
        _key(
            "purge_older_than",
            _as_duration_opt,
            "remove sets older than this (60s, 12h, 30d; a bare number means days)",
            aliases=("PURGE_OLDER_THAN",),
        ),
        _key(
            "purge_min_keep",
            _as_min_keep,
            "never keep fewer than N complete sets ('all')",
            aliases=("PURGE_MIN_KEEP",),
        ),
        _key("keep_last", _as_opt_int, "keep only the N newest complete sets"),
        _key("backup_cron", _as_opt_str, "cron expression for `serve`", aliases=("BACKUP_CRON",)),
        _key("cron_timezone", _as_str, "time zone of the cron expression"),
        _key(
            "disable_cron",
            _as_bool,
            "`serve` stays up without scheduling backups",
            aliases=("DISABLE_CRON",),
        ),
        _key("run_on_start", _as_bool, "`serve` runs one backup at start"),
        _key("lock_file", _as_opt_str, "lock held during a backup (default: in state_dir)"),
        _key("state_dir", _as_str, "where `serve` keeps its lock and last-run status"),
        _key("health_listen", _as_opt_str, "HOST:PORT for /healthz and /metrics"),
        _key("health_max_age", _as_duration_opt, "a successful run must be younger than this"),
        _key("pre_backup_hook", _as_list, "command run before each backup (argv, comma-separated)"),
        _key("post_backup_hook", _as_list, "command run after each backup (argv, comma-separated)"),
        _key("webhook_url", _as_opt_str, "URL POSTed a JSON event after each run"),
        _key("stop_grace_period", _as_duration, "on SIGTERM, time left to a running backup"),
        _key("log_format", _choice("text", "json"), "text or json"),
        _key("log_level", _choice("debug", "info", "warning", "error"), "log level"),
        _key("progress", _choice("auto", "always", "never"), "progress lines on a terminal"),
    ]
)

SECRET_KEYS = frozenset(name for name, spec in KEYS.items() if spec.secret)


def _read_secret_file(path: str, env_name: str, problems: list[str]) -> str | None:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        problems.append(f"{env_name}: cannot read {path}: {exc.strerror}")
        return None


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


def _raw_from_file(path: Path, problems: list[str]) -> dict[str, tuple[Any, str]]:
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
    config_path = config_file or env.get("PGBACK_CONFIG")
    if config_path:
        raw.update(_raw_from_file(Path(config_path), problems))
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

    # cross-key checks run on the values that did parse, so a bad value does not hide them:
    # every problem is reported at once
    settings = Settings(**values, sources=sources, warnings=tuple(_unknown_env(env)))
    problems.extend(_cross_checks(settings))
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
    "PGBACK_STATUS",
    "PGBACK_BENCH_",
)


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
    if s.backup_cron:
        from pgback.schedule import validate_cron  # local: keeps config importable alone

        error = validate_cron(s.backup_cron, s.cron_timezone)
        if error:
            problems.append(f"backup_cron {s.backup_cron!r}: {error}")
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


def field_names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "sources"]
