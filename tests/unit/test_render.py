"""What users read: the list, show, purge and verify tables, and list's JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pgback.actions.catalog import SetSummary
from pgback.actions.purge import PurgeOutcome
from pgback.actions.verify import FileCheck
from pgback.config import load_settings
from pgback.manifest import KIND_DATABASE, KIND_GLOBALS, Encryption, FileEntry, Manifest
from pgback.naming import database_file, make_set_id, stored_name
from pgback.render import (
    render_config,
    render_purge,
    render_set_list,
    render_show,
    render_verify,
    set_list_json,
)
from pgback.retention import Decision
from pgback.storage.base import ObjectInfo

NOW = datetime(2025, 4, 15, 12, 0, 0, tzinfo=UTC)
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def complete_set(started: datetime, databases: list[str], encrypted: bool) -> SetSummary:
    set_id = make_set_id(started)
    prefix = f"backups/{set_id}/"
    files = [
        FileEntry(
            KIND_GLOBALS,
            "pg_globals.sql",
            prefix + stored_name("pg_globals.sql", compressed=True, encrypted=encrypted),
            1000,
            "1" * 64,
            "zstd",
            encrypted,
        )
    ]
    for name in databases:
        base = database_file(name)
        files.append(
            FileEntry(
                KIND_DATABASE,
                name,
                prefix + stored_name(base, compressed=True, encrypted=encrypted),
                3 * 1024 * 1024,
                "2" * 64,
                "zstd",
                encrypted,
            )
        )
    manifest = Manifest(
        set_id=set_id,
        started_at=started.isoformat(),
        finished_at=(started + timedelta(minutes=1)).isoformat(),
        tool_version="0.1.0",
        server_version="18.6",
        pg_dump_version="18.6",
        encryption=Encryption("x25519", (RECIPIENT,)) if encrypted else Encryption(),
        files=tuple(files),
        compression="zstd",
        compression_level=1,
    )
    objects = [ObjectInfo(f.key, f.size) for f in files]
    objects.append(ObjectInfo(prefix + "manifest.json", 500))
    return SetSummary(set_id, started, objects, manifest)


def incomplete_set(started: datetime, databases: list[str]) -> SetSummary:
    set_id = make_set_id(started)
    objects = [ObjectInfo(f"backups/{set_id}/{database_file(n)}.zst.age", 2048) for n in databases]
    return SetSummary(set_id, started, objects)


def test_render_set_list_sets_one_line_each_with_age_status_databases_size() -> None:
    sets = [
        incomplete_set(NOW - timedelta(minutes=5), ["my db", "ünï/code"]),
        complete_set(NOW - timedelta(days=1, hours=2), ["app", "my db"], encrypted=True),
        complete_set(NOW - timedelta(days=30), [], encrypted=False),
    ]

    lines = render_set_list(sets, NOW).splitlines()

    assert lines[0].split() == ["SET", "AGE", "STATUS", "DATABASES", "SIZE", "ENCRYPTED"]
    assert len(lines) == 4
    assert lines[1].startswith("20250415T115500Z  5m")
    assert "INCOMPLETE" in lines[1] and "my db, ünï/code" in lines[1] and "4.0 KiB" in lines[1]
    assert lines[2].startswith("20250414T100000Z  1d 2h")
    assert "complete" in lines[2] and "app, my db" in lines[2]
    assert lines[2].rstrip().endswith("age")
    assert "6.0 MiB" in lines[2]
    assert lines[3].startswith("20250316T120000Z  30d")
    assert lines[3].rstrip().endswith("no") and " - " in lines[3]


def test_render_set_list_says_when_a_set_is_from_the_future() -> None:
    sets = [complete_set(NOW + timedelta(days=2, hours=1), ["app"], encrypted=False)]

    (_, line) = render_set_list(sets, NOW).splitlines()

    assert line.startswith("20250417T130000Z  in future (2d 1h)  complete")


def test_render_set_list_no_sets_says_so() -> None:
    assert render_set_list([], NOW) == "no backup sets\n"


def test_set_list_json_has_the_contract_keys_and_real_names() -> None:
    sets = [
        incomplete_set(NOW - timedelta(minutes=5), ['it\'s "q"']),
        complete_set(NOW - timedelta(days=1), ["app", "a/b c"], encrypted=True),
    ]

    data = json.loads(json.dumps(set_list_json(sets)))

    assert [d["id"] for d in data] == [s.set_id for s in sets]
    for entry in data:
        assert {"id", "complete", "databases", "size", "encrypted"} <= set(entry)
    assert data[0]["complete"] is False and data[0]["databases"] == ['it\'s "q"']
    assert data[1]["complete"] is True and data[1]["databases"] == ["app", "a/b c"]
    assert data[1]["encrypted"] is True
    assert data[1]["size"] == sum(o.size for o in sets[1].objects)


def test_render_show_manifest_shows_fields_recipients_and_files() -> None:
    summary = complete_set(NOW, ["app", "my db"], encrypted=True)
    assert summary.manifest is not None

    text = render_show(summary.manifest)

    assert f"set          {summary.set_id}" in text
    assert "PostgreSQL 18.6" in text
    assert "zstd level 1" in text
    assert f"x25519 to {RECIPIENT}" in text
    file_lines = [line for line in text.splitlines() if line.startswith("database")]
    assert len(file_lines) == 2
    assert "app" in file_lines[0] and "app.dump.zst.age" in file_lines[0]
    assert "my db" in file_lines[1] and "my%20db.dump.zst.age" in file_lines[1]


def test_render_purge_dry_run_says_would_remove_with_reasons() -> None:
    summary = incomplete_set(NOW, [])
    outcomes = [
        PurgeOutcome(Decision("20250415T120000Z", True, ("newest complete set",)), summary, False),
        PurgeOutcome(Decision("20250401T120000Z", False, ("beyond keep_last=1",)), summary, False),
    ]

    dry = render_purge(outcomes, dry_run=True).splitlines()
    real = render_purge(outcomes, dry_run=False).splitlines()

    assert dry[1].split(maxsplit=2) == ["20250415T120000Z", "keep", "newest complete set"]
    assert "would remove  beyond keep_last=1" in dry[2]
    assert "removed" in real[2] and "would" not in real[2]
    assert render_purge([], dry_run=True) == "purge: no backup sets\n"


def test_render_verify_each_file_ok_or_failed_with_detail() -> None:
    summary = complete_set(NOW, ["app"], encrypted=False)
    assert summary.manifest is not None
    globals_entry, app_entry = summary.manifest.files
    checks = [
        FileCheck(globals_entry, True, "size and sha256 match, readable"),
        FileCheck(app_entry, False, "backups/x/app.dump.zst: sha256 differs"),
    ]

    lines = render_verify(summary.set_id, checks).splitlines()

    assert lines[0] == f"set {summary.set_id}"
    assert lines[2].split()[:3] == ["OK", "globals", "pg_globals.sql"]
    assert lines[3].split()[:3] == ["FAILED", "database", "app"]
    assert lines[3].endswith("sha256 differs")


def test_render_config_every_key_with_source_and_secrets_redacted() -> None:
    settings = load_settings(env={"PGBACK_S3_SECRET": "top-secret", "PGBACK_JOBS": "3"})

    text = render_config(settings)

    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert rows["jobs"] == ["3", "env", "PGBACK_JOBS"]
    assert rows["s3_secret"] == ["***", "env", "PGBACK_S3_SECRET"]
    assert rows["compress"] == ["zstd", "default"]
    assert "top-secret" not in text
