"""`pgback import-config pg_back.conf`: pg_back's settings as a pgback settings file (TOML).

Every key pg_back.conf sets is mapped, or listed with the reason it is not; secrets read from
it (cipher_pass, cipher_private_key, the S3 keys) are never printed: the output says which
environment variable (or _FILE) to set instead.
"""

from __future__ import annotations

import configparser
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from pgback.dumpopts import as_pg_dump_options
from pgback.durations import parse_duration

_GLOBAL = "__pg_back__"
_SECRETS = {
    "cipher_pass": "PGBACK_CIPHER_PASS",
    "cipher_private_key": "PGBACK_CIPHER_PRIVATE_KEY",
    "s3_key_id": "PGBACK_S3_KEY_ID",
    "s3_secret": "PGBACK_S3_SECRET",
}
_SAME = ("host", "dbname", "s3_region", "s3_bucket", "s3_endpoint", "upload_prefix")
_SAME_BOOL = ("with_templates", "encrypt", "s3_force_path", "s3_tls")
_SAME_LIST = ("include_dbs", "exclude_dbs", "cipher_public_key")
_NOT_MAPPED = {
    "backup_directory": "pgback streams each file to storage: nothing is written locally",
    "backup_file_mode": "pgback writes no local files",
    "timestamp_format": "pgback's set ids are one format (20250413T213408Z); it reads both of "
    "pg_back's",
    "uniform_timestamp": "a pgback set has one id, its run's start time",
    "dump_only": "pgback always dumps globals and configuration with the databases",
    "parallel_backup_jobs": "pgback streams the custom format; parallel pg_dump needs the "
    "directory format",
    "compress_level": "pgback compresses with zstd in the stream (compress_level 1-22, not "
    "pg_dump's gzip levels)",
    "checksum_algorithm": "the manifest records the sha256 of every stored file; `pgback "
    "verify` checks it",
    "encrypt_keep_source": "pgback keeps no unencrypted source",
    "delete_uploaded": "pgback keeps nothing locally to delete",
    "pause_timeout": "pgback does not pause replication on a standby",
    "s3_profile": "boto3 reads AWS_PROFILE: set it in the environment",
}
_PER_DB_NOT_MAPPED = {
    "user": "one connection user per run",
    "parallel_backup_jobs": _NOT_MAPPED["parallel_backup_jobs"],
    "compress_level": _NOT_MAPPED["compress_level"],
    "checksum_algorithm": _NOT_MAPPED["checksum_algorithm"],
    "purge_older_than": "retention applies to whole sets, not to one database",
    "purge_min_keep": "retention applies to whole sets, not to one database",
}


@dataclass
class Converted:
    settings: dict[str, Any] = field(default_factory=dict)
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # "key: why it is not mapped"
    secrets: list[str] = field(default_factory=list)  # how to give each secret instead

    def to_toml(self, source: str) -> str:
        lines = [f"# pgback settings converted from {source} by `pgback import-config`", ""]
        lines += [f"{key} = {_value(value)}" for key, value in self.settings.items()]
        for name, table in self.databases.items():
            lines += ["", f"[databases.{json.dumps(name, ensure_ascii=False)}]"]
            lines += [f"{key} = {_value(value)}" for key, value in table.items()]
        if self.secrets:
            lines += ["", "# secrets are not copied here; give them in the environment:"]
            lines += [f"#   {line}" for line in self.secrets]
        if self.notes:
            lines += ["", "# pg_back keys not mapped, and why:"]
            lines += [f"#   {line}" for line in self.notes]
        return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1", "t", "y"):
        return True
    if lowered in ("false", "no", "off", "0", "f", "n"):
        return False
    return None


def _strip(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def convert(text: str) -> Converted:
    """pg_back.conf's text converted; ValueError when it is not an INI file."""
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, inline_comment_prefixes=None
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(f"[{_GLOBAL}]\n" + text)
    except configparser.Error as exc:
        raise ValueError(f"not a pg_back configuration file: {str(exc).splitlines()[0]}") from None
    out = Converted()
    for key, raw in parser[_GLOBAL].items():
        value = _strip(raw)
        if value == "":
            continue
        _global_key(key, value, out, parser[_GLOBAL])
    for section in parser.sections():
        if section != _GLOBAL:
            _database(section, parser[section], out)
    return out


def _global_key(key: str, value: str, out: Converted, section: Any) -> None:
    s = out.settings
    if key in _SECRETS:
        out.secrets.append(f"{key}: set {_SECRETS[key]} (or {_SECRETS[key]}_FILE)")
    elif key in _SAME:
        s[key] = value
    elif key in _SAME_BOOL and _bool(value) is not None:
        s[key] = _bool(value)
    elif key in _SAME_LIST:
        s[key] = [item.strip() for item in value.split(",") if item.strip()]
    elif key == "bin_directory":
        s["pg_bin_dir"] = value
    elif key in ("port", "jobs") and value.isdigit():
        s[key] = int(value)
    elif key == "dump_role_passwords" and _bool(value) is not None:
        s["no_role_passwords"] = not _bool(value)
    elif key == "format":
        if value not in ("custom", "c"):
            out.notes.append(f"format = {value}: pgback dumps in the custom format only")
    elif key == "purge_older_than":
        _purge_age(value, out)
    elif key == "purge_min_keep":
        s[key] = "all" if value == "all" else int(value) if value.isdigit() else value
    elif key in ("pre_backup_hook", "post_backup_hook"):
        s[key] = shlex.split(value)
    elif key == "pg_dump_options":
        try:
            s[key] = list(as_pg_dump_options(value))
        except ValueError as exc:
            out.notes.append(f"pg_dump_options: {exc}")
    elif key == "upload":
        _upload(value, out, section)
    elif key == "purge_remote":
        if _bool(value):
            s["purge_pg_back_files"] = True  # pg_back's old files age out under the same policy
    elif key == "backup_directory" and _strip(section.get("upload", "none")) == "none":
        return  # it became the repository (see _upload)
    elif key in _NOT_MAPPED:
        out.notes.append(f"{key}: {_NOT_MAPPED[key]}")
    elif key.startswith(("sftp_", "gcs_", "azure_", "b2_")):
        out.notes.append(f"{key}: pgback stores on S3 or in a directory (repository)")
    else:
        out.notes.append(f"{key}: not a key pgback knows from pg_back")


def _purge_age(value: str, out: Converted) -> None:
    try:
        delta = parse_duration(value)
    except ValueError:
        out.notes.append(f"purge_older_than = {value}: write it as 60s, 12h or 30d")
        return
    if delta.total_seconds() <= 0:
        out.notes.append(f"purge_older_than = {value}: pgback always keeps the newest set")
        return
    out.settings["purge_older_than"] = value if not value.isdigit() else f"{value}d"


def _upload(value: str, out: Converted, section: Any) -> None:
    if value == "s3":
        return
    if value == "none":
        directory = _strip(section.get("backup_directory", "/var/backups/postgresql"))
        if "{dbname}" not in directory:
            out.settings["repository"] = f"file://{directory}"
            return
    out.notes.append(f"upload = {value}: pgback stores on S3 or in a directory (repository)")


def _database(name: str, section: Any, out: Converted) -> None:
    table: dict[str, Any] = {}
    args: list[str] = []
    for key, raw in section.items():
        value = _strip(raw)
        if value == "" and key != "pg_dump_options":
            continue
        items = [item.strip() for item in value.split(",") if item.strip()]
        if key in ("schemas", "exclude_schemas", "tables"):
            flag = {"schemas": "-n", "exclude_schemas": "-N", "tables": "-t"}[key]
            args += [part for item in items for part in (flag, item)]
        elif key == "exclude_tables":
            table["exclude"] = items
        elif key == "with_blobs" and _bool(value) is not None:
            args.append("-b" if _bool(value) else "-B")
        elif key == "pg_dump_options":
            try:
                args += list(as_pg_dump_options(value))
            except ValueError as exc:
                out.notes.append(f"[{name}] pg_dump_options: {exc}")
        elif key == "format" and value in ("custom", "c"):
            continue
        elif key in _PER_DB_NOT_MAPPED:
            out.notes.append(f"[{name}] {key}: {_PER_DB_NOT_MAPPED[key]}")
        elif key == "format":
            out.notes.append(f"[{name}] format = {value}: pgback dumps in the custom format only")
        else:
            out.notes.append(f"[{name}] {key}: not a per-database key pgback knows from pg_back")
    if "pg_dump_options" not in section and args:
        # pg_back adds these to the global pg_dump_options; pgback's per-database list replaces
        # the global one, so it carries both
        args = [*out.settings.get("pg_dump_options", []), *args]
    if args or "pg_dump_options" in section:
        table["pg_dump_options"] = args
    if table:
        out.databases[name] = table
