"""Human output: tables for list, show, purge and verify; JSON shapes for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pgback.config import KEYS, Settings
from pgback.config.settings import shown_value
from pgback.durations import format_duration
from pgback.manifest import Manifest
from pgback.progress import human_size
from pgback.text import printable

if TYPE_CHECKING:  # the command line imports this module for every command, the actions not
    from pgback.actions.catalog import SetSummary
    from pgback.actions.purge import PurgeOutcome
    from pgback.actions.verify import FileCheck


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines) + "\n"


def render_set_list(sets: list[SetSummary], now: datetime) -> str:
    if not sets:
        return "no backup sets\n"
    rows = [
        [
            s.set_id,
            _age(s.started, now),
            "pg_back" if s.layout == "pg_back" else "complete" if s.complete else "INCOMPLETE",
            ", ".join(s.databases) or "-",
            human_size(s.size),
            _encryption(s),
        ]
        for s in sets
    ]
    return table(["SET", "AGE", "STATUS", "DATABASES", "SIZE", "ENCRYPTED"], rows)


def _encryption(s: SetSummary) -> str:
    if not s.encrypted:
        return "no"
    if s.layout == "pg_back" and s.manifest is not None:
        mode = s.manifest.encryption.mode
        return {"x25519": "age (key)", "scrypt": "age (passphrase)"}.get(mode, "age")
    return "age"


def _age(started: datetime, now: datetime) -> str:
    if started > now:  # a clock ahead when the set was made, or behind now
        return f"in future ({format_duration(started - now)})"
    return format_duration(now - started)


def set_list_json(sets: list[SetSummary]) -> list[dict[str, Any]]:
    return [
        {
            "id": s.set_id,
            "started": s.started.isoformat(),
            "complete": s.complete,
            "databases": s.databases,
            "size": s.size,
            "encrypted": s.encrypted,
            "objects": len(s.objects),
            "layout": s.layout,
            **({"problem": s.problem} if s.problem else {}),
            **(_pg_back_json(s) if s.layout == "pg_back" else {}),
        }
        for s in sets
    ]


def _pg_back_json(s: SetSummary) -> dict[str, Any]:
    """What a pg_back run holds: its files, their dump formats, encryption and checksums."""
    assert s.manifest is not None  # pg_back runs are described when listed
    return {
        "encryption": s.manifest.encryption.mode,
        "files": [
            {
                "kind": f.kind,
                "name": f.name,
                "key": f.key,
                "size": f.size,
                "encrypted": f.encrypted,
                **({"format": fmt} if (fmt := getattr(f, "format", "")) else {}),
                **(
                    {"checksums": [key.rsplit("/", 1)[-1] for _, _, key in checksums]}
                    if (checksums := getattr(f, "checksums", ()))
                    else {}
                ),
            }
            for f in s.manifest.files
        ],
    }


def render_show(manifest: Manifest) -> str:
    head = [
        ["set", manifest.set_id],
        ["started", manifest.started_at],
        ["finished", manifest.finished_at],
        ["server", f"PostgreSQL {manifest.server_version}"],
        ["pg_dump", manifest.pg_dump_version],
        ["pgback", manifest.tool_version],
        [
            "compression",
            manifest.compression
            + (f" level {manifest.compression_level}" if manifest.compression_level else ""),
        ],
        [
            "encryption",
            manifest.encryption.mode
            + (
                f" to {', '.join(manifest.encryption.recipients)}"
                if manifest.encryption.mode == "x25519"
                else ""
            ),
        ],
        ["size", human_size(manifest.size)],
    ]
    head += [["warning", w] for w in manifest.warnings]
    files = [
        [f.kind, f.name, f.key.rsplit("/", 1)[-1], human_size(f.size), f.sha256[:16]]
        for f in manifest.files
    ]
    return (
        table(["FIELD", "VALUE"], head)
        + "\n"
        + table(["KIND", "NAME", "OBJECT", "SIZE", "SHA256"], files)
    )


def render_purge(outcomes: list[PurgeOutcome], *, dry_run: bool) -> str:
    if not outcomes:
        return "purge: no backup sets\n"
    rows = [
        [
            o.decision.set_id,
            "keep" if o.decision.keep else ("would remove" if dry_run else "removed"),
            "; ".join(o.decision.reasons),
        ]
        for o in outcomes
    ]
    return table(["SET", "ACTION", "REASON"], rows)


def purge_json(outcomes: list[PurgeOutcome]) -> list[dict[str, Any]]:
    """`purge --json`: one object per set, newest first, with every reason."""
    return [
        {
            "set": o.decision.set_id,
            "action": "keep" if o.decision.keep else "remove",
            "reasons": list(o.decision.reasons),
        }
        for o in outcomes
    ]


def render_verify(set_id: str, checks: list[FileCheck]) -> str:
    rows = [["OK" if c.ok else "FAILED", c.entry.kind, c.entry.name, c.detail] for c in checks]
    return f"set {set_id}\n" + table(["RESULT", "KIND", "NAME", "DETAIL"], rows)


def render_config(settings: Settings) -> str:
    rows = [
        [name, _cell(value), printable(settings.sources.get(name, "default"))]
        for name, value in settings.redacted().items()
    ]
    for entry in settings.servers:  # each [[servers]] table's own keys, secrets as ***
        for name, value in entry.values.items():
            shown = shown_value(KEYS[name], value)
            source = entry.sources.get(name, "file")
            rows.append([f"servers.{entry.name}.{name}", _cell(shown), printable(source)])
    return table(["KEY", "VALUE", "FROM"], rows)


def _cell(value: Any) -> str:
    return "" if value is None else printable(str(value))


def render_keys() -> str:
    """Every setting: its group, environment variable, default and meaning."""
    rows = []
    for spec in KEYS.values():
        default = shown_value(spec, spec.default)
        env = spec.env + (" (or _FILE)" if spec.secret else "")
        rows.append(
            [spec.name, spec.group, env, "" if default is None else str(default), spec.help]
        )
    return table(["KEY", "GROUP", "ENVIRONMENT", "DEFAULT", "MEANING"], rows)


def render_keys_markdown() -> str:
    """docs/configuration.md's table (a test keeps the file equal to this)."""
    lines = [
        "| key | group | environment | default | what |",
        "|---|---|---|---|---|",
    ]
    for spec in KEYS.values():
        env = f"`{spec.env}`" + ("<br>(or `_FILE`)" if spec.secret else "")
        env += "".join(f"<br>alias `{alias}`" for alias in spec.aliases)
        default = shown_value(spec, spec.default)
        shown = f"`{default}`" if default not in (None, "") else ""
        what = spec.help + (" (secret: never a flag)" if spec.secret else "")
        lines.append(f"| `{spec.name}` | {spec.group} | {env} | {shown} | {what} |")
    return "\n".join(lines) + "\n"
