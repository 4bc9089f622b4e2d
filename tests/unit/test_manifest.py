"""The manifest: the record of a set that restore, verify and list read back."""

from __future__ import annotations

import json

import pytest

from pgback.manifest import (
    FORMAT_VERSION,
    KIND_DATABASE,
    KIND_GLOBALS,
    KIND_IDENTITY,
    Encryption,
    FileEntry,
    Manifest,
)


def sample_manifest() -> Manifest:
    prefix = "backups/20250413T213408Z/"
    return Manifest(
        set_id="20250413T213408Z",
        started_at="2025-04-13T21:34:08+00:00",
        finished_at="2025-04-13T21:35:10+00:00",
        tool_version="0.1.0",
        server_version="18.6",
        pg_dump_version="18.6",
        encryption=Encryption("x25519", ("age1recipientone", "age1recipienttwo")),
        files=(
            FileEntry(
                KIND_GLOBALS,
                "pg_globals.sql",
                prefix + "pg_globals.sql.zst.age",
                10,
                "a" * 64,
                "zstd",
                True,
            ),
            FileEntry(
                KIND_DATABASE,
                "ünïcødé ✓ データ",
                prefix + "%C3%BC.dump.zst.age",
                2000,
                "b" * 64,
                "zstd",
                True,
            ),
            FileEntry(
                KIND_DATABASE,
                'it\'s "quoted"/x',
                prefix + "it%27s.dump.zst.age",
                300,
                "c" * 64,
                "zstd",
                True,
            ),
        ),
        compression="zstd",
        compression_level=3,
        options={"jobs": 2, "include_dbs": ["a b"], "compress": "zstd"},
        warnings=("cannot read the hba and ident files",),
    )


def test_manifest_json_round_trip_gives_an_equal_manifest() -> None:
    manifest = sample_manifest()

    assert Manifest.from_json(manifest.to_json()) == manifest
    assert Manifest.from_json(manifest.to_json().encode()) == manifest


def test_manifest_json_is_readable_with_real_names_and_public_keys_only() -> None:
    data = json.loads(sample_manifest().to_json())

    assert data["tool"] == "pgback" and data["format"] == FORMAT_VERSION
    assert data["set_id"] == "20250413T213408Z"
    assert [f["name"] for f in data["files"]][1:] == ["ünïcødé ✓ データ", 'it\'s "quoted"/x']
    assert data["encryption"] == {
        "mode": "x25519",
        "recipients": ["age1recipientone", "age1recipienttwo"],
    }
    assert set(data["files"][0]) == {
        "kind",
        "name",
        "key",
        "size",
        "sha256",
        "compression",
        "encrypted",
    }
    assert "ünïcødé" in sample_manifest().to_json()  # not \\u-escaped


def test_manifest_summary_properties_describe_the_set() -> None:
    manifest = sample_manifest()

    assert manifest.databases == ["ünïcødé ✓ データ", 'it\'s "quoted"/x']
    assert manifest.size == 2310
    assert manifest.encrypted
    assert manifest.file(KIND_DATABASE, 'it\'s "quoted"/x').size == 300  # type: ignore[union-attr]
    assert manifest.file(KIND_IDENTITY) is None


def test_manifest_older_file_without_optional_fields_still_reads() -> None:
    data = json.loads(sample_manifest().to_json())
    for optional in ("warnings", "options", "compression", "compression_level"):
        del data[optional]

    manifest = Manifest.from_json(json.dumps(data))

    assert manifest.warnings == () and manifest.options == {}
    assert manifest.databases == sample_manifest().databases


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "not a pgback manifest"),
        ('{"tool": "restic"}', "not a pgback manifest"),
        ('{"tool": "pgback", "format": 99}', "newer than this pgback"),
        ('{"tool": "pgback", "format": 1, "set_id": "x"}', "missing or has unexpected fields"),
    ],
)
def test_manifest_from_json_foreign_or_broken_text_is_refused_with_reason(
    text: str, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        Manifest.from_json(text)


def test_manifest_from_json_unknown_file_field_is_refused() -> None:
    data = json.loads(sample_manifest().to_json())
    data["files"][0]["surprise"] = 1

    with pytest.raises(ValueError, match="unexpected fields"):
        Manifest.from_json(json.dumps(data))
