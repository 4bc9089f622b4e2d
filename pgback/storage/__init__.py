"""Object storage: one small protocol, several backends (S3, a local directory, memory)."""

from pgback.storage.base import ObjectInfo, ObjectWriter, Storage

__all__ = ["ObjectInfo", "ObjectWriter", "Storage"]
