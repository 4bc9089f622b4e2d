"""Generated documentation stays equal to what generates it."""

from __future__ import annotations

from pathlib import Path

from pgback.render import render_keys_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_configuration_table_is_the_settings_table() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()

    table = text[text.index("| key | group |") :]
    assert table == render_keys_markdown(), (
        "docs/configuration.md is stale: regenerate its table with "
        "`pgback config --keys --markdown`"
    )
