"""The settings: one typed dataclass whose fields are the keys, each declared once with its
parser, help, group and environment aliases (`KEYS` is read off the fields)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import timedelta
from typing import Any

from pgback.config import parse as p
from pgback.config.databases import DatabaseOptions
from pgback.dumpopts import as_pg_dump_options
from pgback.secret import Secret

# groups, in the order `--help` shows them
CONNECTION = "connection"
TOOLS = "client tools"
DUMP = "what to dump"
ENCRYPTION = "encryption"
DECRYPTION = "decryption"
STORAGE = "storage"
RETENTION = "retention"
SIDECAR = "sidecar"
NOTIFY = "notifications"
STATE = "local state"
OUTPUT = "output"
GROUPS = (
    CONNECTION,
    TOOLS,
    DUMP,
    ENCRYPTION,
    DECRYPTION,
    STORAGE,
    RETENTION,
    SIDECAR,
    NOTIFY,
    STATE,
    OUTPUT,
)


@dataclass(frozen=True)
class KeySpec:
    name: str
    parse: Callable[[Any], Any]
    help: str
    group: str
    default: Any
    secret: bool = False
    aliases: tuple[str, ...] = ()  # extra environment names (the seed sidecar's), lower priority

    @property
    def env(self) -> str:
        return "PGBACK_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_bool(self) -> bool:
        return self.parse is p.as_bool


def _key(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,
    group: str,
    *,
    secret: bool = False,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A settings field; `Any` so each field keeps its annotated type for mypy."""
    spec = {"parse": parse, "help": help, "group": group, "secret": secret, "aliases": aliases}
    return field(default=default, metadata={"key": spec})


@dataclass(frozen=True)
class ServerEntry:
    """One `[[servers]]` table of the settings file: a name and its server-level keys, parsed
    (pgback.config.servers reads and applies them)."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    # where to connect (libpq's PG* variables work too; these override them)
    host: str | None = _key(
        None,
        p.as_opt_str,
        "PostgreSQL host (default: libpq's PGHOST)",
        CONNECTION,
        aliases=("POSTGRES_HOST",),
    )
    port: int | None = _key(
        None, p.as_port, "PostgreSQL port (default: PGPORT)", CONNECTION, aliases=("POSTGRES_PORT",)
    )
    user: str | None = _key(
        None,
        p.as_opt_str,
        "PostgreSQL user (default: PGUSER)",
        CONNECTION,
        aliases=("POSTGRES_USER",),
    )
    dbname: str | None = _key(
        None,
        p.as_opt_str,
        "database to connect to for listing",
        CONNECTION,
        aliases=("POSTGRES_DB",),
    )
    password: Secret | None = _key(
        None,
        p.as_secret,
        "PostgreSQL password (default: PGPASSWORD)",
        CONNECTION,
        secret=True,
        aliases=("POSTGRES_PASSWORD",),
    )
    pg_bin_dir: str | None = _key(
        None, p.as_opt_str, "client tools only from here (default: found per server)", TOOLS
    )
    # what to dump
    include_dbs: tuple[str, ...] = _key(
        (), p.as_list, "only these databases (comma-separated)", DUMP, aliases=("INCLUDE_DBS",)
    )
    exclude_dbs: tuple[str, ...] = _key(
        (), p.as_list, "skip these databases (comma-separated)", DUMP, aliases=("EXCLUDE_DBS",)
    )
    with_templates: bool = _key(
        False, p.as_bool, "also dump template databases that allow connections", DUMP
    )
    no_role_passwords: bool = _key(
        False, p.as_bool, "leave role passwords out of the globals dump", DUMP
    )
    jobs: int = _key(
        1, p.as_positive, "databases dumped (or restored) at once", DUMP, aliases=("JOBS",)
    )
    compress: str = _key(
        "zstd", p.choice("zstd", "none"), "compression in the stream: zstd or none", DUMP
    )
    compress_level: int = _key(1, p.as_level, "zstd level (1-22)", DUMP)
    pg_dump_options: tuple[str, ...] = _key(
        (),
        as_pg_dump_options,
        "extra pg_dump options for every database (a TOML list, or one shell-quoted string); "
        "per database: [databases.NAME] tables (docs/configuration.md)",
        DUMP,
    )
    # encryption
    encrypt: bool = _key(False, p.as_bool, "encrypt with age", ENCRYPTION, aliases=("ENCRYPT",))
    cipher_public_key: tuple[str, ...] = _key(
        (),
        p.as_list,
        "age recipients (age1..., comma-separated)",
        ENCRYPTION,
        aliases=("AGE_CIPHER_PUBLIC_KEY",),
    )
    cipher_private_key: Secret | None = _key(
        None,
        p.as_secret,
        "age identity (AGE-SECRET-KEY-...) to decrypt",
        DECRYPTION,
        secret=True,
        aliases=("AGE_CIPHER_PRIVATE_KEY",),
    )
    cipher_pass: Secret | None = _key(
        None,
        p.as_secret,
        "passphrase (passphrase mode): encrypts new sets, decrypts them",
        DECRYPTION,
        secret=True,
        aliases=("CIPHER_PASS",),
    )
    # storage
    repository: str | None = _key(
        None,
        p.as_location,
        "where the sets live: s3://BUCKET[/PREFIX] or file:///DIRECTORY (default: s3, "
        "from s3_bucket and upload_prefix)",
        STORAGE,
    )
    upload_prefix: str = _key(
        "",
        p.as_str,
        "folder inside the bucket holding the sets",
        STORAGE,
        aliases=("UPLOAD_PREFIX",),
    )
    s3_bucket: str | None = _key(None, p.as_opt_str, "bucket name", STORAGE, aliases=("S3_BUCKET",))
    s3_endpoint: str | None = _key(
        None,
        p.as_opt_str,
        "S3 endpoint URL (MinIO, Garage...; default AWS)",
        STORAGE,
        aliases=("S3_ENDPOINT",),
    )
    s3_region: str | None = _key(None, p.as_opt_str, "S3 region", STORAGE, aliases=("S3_REGION",))
    s3_key_id: Secret | None = _key(
        None,
        p.as_secret,
        "S3 access key id (default: AWS_ACCESS_KEY_ID)",
        STORAGE,
        secret=True,
        aliases=("S3_KEY_ID",),
    )
    s3_secret: Secret | None = _key(
        None,
        p.as_secret,
        "S3 secret key (default: AWS_SECRET_ACCESS_KEY)",
        STORAGE,
        secret=True,
        aliases=("S3_SECRET",),
    )
    s3_force_path: bool = _key(
        False,
        p.as_bool,
        "path-style addressing (MinIO and most self-hosted)",
        STORAGE,
        aliases=("S3_FORCE_PATH",),
    )
    s3_tls: bool = _key(
        True,
        p.as_bool,
        "use TLS for an endpoint given without a scheme",
        STORAGE,
        aliases=("S3_TLS",),
    )
    s3_part_size_mib: int = _key(
        8, p.as_part_size, "multipart part size in MiB (grows for huge dumps)", STORAGE
    )
    s3_max_attempts: int = _key(
        5, p.as_positive, "attempts per S3 request (retries with backoff)", STORAGE
    )
    s3_create_bucket: bool = _key(
        False, p.as_bool, "`backup` and `serve` create a missing bucket", STORAGE
    )
    # several runners on one bucket: a running backup's mark older than this is a dead host's
    mark_stale_after: timedelta = _key(
        timedelta(minutes=15),
        p.as_mark_age,
        "a running backup's mark not refreshed for this long is a dead host's (purge may then "
        "remove its set)",
        STORAGE,
    )
    # retention
    purge_older_than: timedelta | None = _key(
        None,
        p.as_duration_opt,
        "remove sets older than this (60s, 12h, 30d; a bare number means days)",
        RETENTION,
        aliases=("PURGE_OLDER_THAN",),
    )
    purge_min_keep: int | None = _key(  # None means "all": keep everything
        0,
        p.as_min_keep,
        "never keep fewer than N complete sets ('all')",
        RETENTION,
        aliases=("PURGE_MIN_KEEP",),
    )
    keep_last: int | None = _key(
        None, p.as_opt_int, "keep only the N newest complete sets", RETENTION
    )
    keep_daily: int | None = _key(
        None, p.as_opt_int, "keep the newest set of each of the last N days", RETENTION
    )
    keep_weekly: int | None = _key(
        None, p.as_opt_int, "keep the newest set of each of the last N ISO weeks", RETENTION
    )
    keep_monthly: int | None = _key(
        None, p.as_opt_int, "keep the newest set of each of the last N months", RETENTION
    )
    keep_yearly: int | None = _key(
        None, p.as_opt_int, "keep the newest set of each of the last N years", RETENTION
    )
    retention_timezone: str | None = _key(
        None,
        p.as_opt_str,
        "time zone of the keep_daily...keep_yearly periods (default: cron_timezone)",
        RETENTION,
    )
    purge_pg_back_files: bool = _key(
        False,
        p.as_bool,
        "purge also pg_back's flat files under the prefix, each run as a set (docs/pg_back.md)",
        RETENTION,
    )
    # sidecar
    backup_cron: str | None = _key(
        None, p.as_opt_str, "cron expression for `serve`", SIDECAR, aliases=("BACKUP_CRON",)
    )
    cron_timezone: str = _key("UTC", p.as_str, "time zone of the cron expression", SIDECAR)
    disable_cron: bool = _key(
        False,
        p.as_bool,
        "`serve` stays up without scheduling backups",
        SIDECAR,
        aliases=("DISABLE_CRON",),
    )
    run_on_start: bool = _key(False, p.as_bool, "`serve` runs one backup at start", SIDECAR)
    health_listen: str | None = _key(
        None, p.as_opt_str, "HOST:PORT for /healthz and /metrics", SIDECAR
    )
    health_max_age: timedelta | None = _key(
        None, p.as_duration_opt, "a successful run must be younger than this", SIDECAR
    )
    pre_backup_hook: tuple[str, ...] = _key(
        (), p.as_list, "command run before each backup (argv, comma-separated)", SIDECAR
    )
    post_backup_hook: tuple[str, ...] = _key(
        (), p.as_list, "command run after each backup (argv, comma-separated)", SIDECAR
    )
    stop_grace_period: timedelta = _key(
        timedelta(seconds=30), p.as_duration, "on SIGTERM, time left to a running backup", SIDECAR
    )
    drill_cron: str | None = _key(
        None, p.as_opt_str, "cron expression for `serve`'s restore drills (drill_file)", SIDECAR
    )
    drill_file: str | None = _key(
        None,
        p.as_opt_str,
        "the restore drill `serve` runs on drill_cron (a scenario file; `pgback drill FILE`)",
        SIDECAR,
    )
    # notifications
    webhook_url: str | None = _key(
        None, p.as_opt_str, "URL POSTed a JSON event after each run", NOTIFY
    )
    ping_url: Secret | None = _key(
        None,
        p.as_secret,
        "dead-man ping: requested when a backup starts, succeeds (the URL) and fails",
        NOTIFY,
        secret=True,
    )
    ping_method: str = _key("post", p.choice("post", "get"), "POST (with a body) or GET", NOTIFY)
    ping_style: str = _key(
        "healthchecks",
        p.choice("healthchecks", "cronitor", "uptime-kuma"),
        "healthchecks (URL/start, URL, URL/fail), cronitor (?state=) or uptime-kuma (?status=)",
        NOTIFY,
    )
    # local state
    lock_file: str | None = _key(
        None, p.as_opt_str, "lock held during a backup (default: in state_dir)", STATE
    )
    state_dir: str = _key(
        "/tmp/pgback", p.as_str, "where the lock and the sidecar's last-run status live", STATE
    )
    # output
    log_format: str = _key("text", p.choice("text", "json"), "text or json", OUTPUT)
    log_level: str = _key(
        "info", p.choice("debug", "info", "warning", "error"), "log level", OUTPUT
    )
    progress: str = _key(
        "auto", p.choice("auto", "always", "never"), "progress lines on a terminal", OUTPUT
    )

    # provenance of each non-default value, for `pgback config`
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # things worth saying that do not stop the run (a misspelled PGBACK_ variable...)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # the file's [[servers]] tables; and the one these settings were made for, if any
    servers: tuple[ServerEntry, ...] = field(default=(), compare=False)
    server: str | None = None
    # the settings file's [databases.NAME] tables: not scalar keys (pgback/config/databases.py)
    databases: Mapping[str, DatabaseOptions] = field(default_factory=dict)

    def database(self, name: str) -> DatabaseOptions:
        return self.databases.get(name) or DatabaseOptions()

    @property
    def purge_policy_set(self) -> bool:
        limits = (self.purge_older_than, self.keep_last)
        calendar = (self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly)
        return any(value is not None for value in limits + calendar)

    @property
    def retention_zone(self) -> str:
        """The time zone calendar retention counts days in."""
        return self.retention_timezone or self.cron_timezone

    def redacted(self) -> dict[str, Any]:
        """Every key with its effective value, secrets replaced by `***`."""
        out: dict[str, Any] = {}
        for spec in KEYS.values():
            out[spec.name] = shown_value(spec, getattr(self, spec.name))
        return out


def shown_value(spec: KeySpec, value: Any) -> Any:
    """A value as `pgback config` prints it (secrets as `***`)."""
    if isinstance(value, Secret):
        return "***" if value else ""
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())}s"
    if isinstance(value, tuple):
        return shlex.join(value) if spec.name == "pg_dump_options" else ",".join(value)
    if spec.name == "purge_min_keep" and value is None:
        return "all"
    return value


def _spec(f: Field[Any]) -> KeySpec:
    default = f.default if f.default is not MISSING else None
    return KeySpec(name=f.name, default=default, **f.metadata["key"])


KEYS: dict[str, KeySpec] = {f.name: _spec(f) for f in fields(Settings) if "key" in f.metadata}
SECRET_KEYS = frozenset(name for name, spec in KEYS.items() if spec.secret)


def keys_in(groups: tuple[str, ...]) -> list[KeySpec]:
    """The keys of these groups, in the order of GROUPS then of the fields."""
    return [
        spec for group in GROUPS if group in groups for spec in KEYS.values() if spec.group == group
    ]
