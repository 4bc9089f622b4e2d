"""Repository locations: where the sets live, as a URL (`s3://bucket/prefix`, `file:///dir`).

Pure parsing; the storage package maps each scheme to a backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SCHEMES = ("s3", "file")


@dataclass(frozen=True)
class Location:
    scheme: str
    bucket: str | None = None  # s3
    prefix: str = ""  # s3: the folder inside the bucket
    path: str | None = None  # file: the directory

    def __str__(self) -> str:
        if self.scheme == "file":
            return f"file://{self.path}"
        return f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")


def parse_location(text: str) -> Location:
    """A Location, or ValueError saying which forms are accepted."""
    forms = "use s3://BUCKET[/PREFIX] or file:///ABSOLUTE/DIRECTORY"
    parts = urlsplit(text.strip())
    if parts.scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {parts.scheme or '(none)'!r}: {forms}")
    if parts.query or parts.fragment:
        raise ValueError(f"a location has no query or fragment: {forms}")
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"no bucket name: {forms}")
        return Location("s3", bucket=parts.netloc, prefix=unquote(parts.path).strip("/"))
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file locations are local (no host {parts.netloc!r}): {forms}")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise ValueError(f"the directory must be absolute: {forms}")
    return Location("file", path=path.rstrip("/") or "/")
