"""Object storage: one small protocol, several backends chosen by the repository location.

`open_storage(settings)` is the one entry point: `repository = s3://...` (or no repository:
S3 from the `s3_*` settings) and `file:///...`. A backend is one module with an opener taking
the Settings and reading its own options; adding one is a module plus a row in BACKENDS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pgback.location import parse_location
from pgback.storage.base import ObjectInfo, ObjectWriter, Storage, UploadJanitor

if TYPE_CHECKING:
    from pgback.config import Settings

# scheme -> (module, opener): imported on use, so `file://` never loads boto3
BACKENDS: dict[str, tuple[str, str]] = {
    "s3": ("pgback.storage.s3", "open_s3"),
    "file": ("pgback.storage.local", "open_local"),
}


def open_storage(settings: Settings) -> Storage:
    """The storage the settings point at (configuration errors are ConfigError, exit 2)."""
    scheme = parse_location(settings.repository).scheme if settings.repository else "s3"
    module, opener = BACKENDS[scheme]
    storage: Storage = getattr(importlib.import_module(module), opener)(settings)
    return storage


def settings_problems(settings: Settings) -> list[str]:
    """What the backend would refuse in these settings before any request (a backend module
    may define `settings_problems(settings)`), for `pgback config`."""
    scheme = parse_location(settings.repository).scheme if settings.repository else "s3"
    module = importlib.import_module(BACKENDS[scheme][0])
    check = getattr(module, "settings_problems", None)
    return list(check(settings)) if check else []


__all__ = [
    "BACKENDS",
    "ObjectInfo",
    "ObjectWriter",
    "Storage",
    "UploadJanitor",
    "open_storage",
    "settings_problems",
]
