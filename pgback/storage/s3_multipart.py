"""The S3 backend's streaming writer: a multipart upload in bounded memory."""

from __future__ import annotations

import builtins
import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError

from pgback.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from pgback.storage.s3 import S3Storage

MIB = 1024 * 1024
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024 * MIB
# parts are sized so the expected object fits in this many; past them part sizes double every
# GROWTH_EVERY parts, so an object bigger than expected still fits in S3's 10,000
PLANNED_PARTS = 9_000
GROWTH_EVERY = 100


def part_size_for(configured: int, size_hint: int | None) -> int:
    """The smallest part size (whole MiB, at least `configured`) that holds `size_hint`
    bytes in PLANNED_PARTS parts."""
    if not size_hint:
        return configured
    needed = -(-size_hint // PLANNED_PARTS)
    return min(MAX_PART_SIZE, max(configured, -(-needed // MIB) * MIB))


def in_flight_for(configured_parts: int, configured_size: int, part_size: int) -> int:
    """Parts uploading at once: as many as the configured buffer memory (parts x size)
    holds at this part size, at least one."""
    return max(1, min(configured_parts, configured_parts * configured_size // part_size))


class MultipartWriter:
    """Buffers one part at a time; at most `max_in_flight` parts upload while the next fills.

    Each part is held in memory until S3 has it, so that a failed part can be sent again:
    memory is the part being filled plus the parts in flight. The part size is chosen from the
    size hint (a database's size) so the object fits in PLANNED_PARTS parts, and fewer parts
    fly at once as parts grow: memory stays (max_in_flight + 1) x s3_part_size while the hint
    fits in PLANNED_PARTS parts of s3_part_size (75 GB at the defaults), and is 2 x the part
    size past that, which grows as hint / PLANNED_PARTS: S3's 10,000 parts set it, not the
    stream. Small objects (under one part) go up in a single PUT.
    """

    def __init__(self, storage: S3Storage, key: str, size_hint: int | None = None) -> None:
        self._storage = storage
        self._client = storage.client
        self._bucket = storage.bucket
        self._key = key
        opts = storage.opts
        self._part_size = part_size_for(opts.part_size, size_hint)
        # the part being filled: allocated at its final size, so it never grows (a growing
        # bytearray is reallocated, and for a moment both copies are in memory)
        self._buffer: bytearray | None = None
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: builtins.list[Future[CompletedPartTypeDef]] = []
        self._checked = 0  # self._parts[:_checked] are known to have succeeded
        self._in_flight = in_flight_for(opts.max_in_flight, opts.part_size, self._part_size)
        self._slots = threading.BoundedSemaphore(self._in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise StorageError(f"uploading {self._key}: write after close")
        view = memoryview(data).cast("B")
        self.bytes_written += len(view)
        while view:
            if self._buffer is None:
                self._buffer, self._filled = bytearray(self._part_size), 0
            take = min(len(view), len(self._buffer) - self._filled)
            self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == len(self._buffer):
                # the filled buffer itself goes to the upload: no copy of the part
                chunk, self._buffer = self._buffer, None
                self._send_part(chunk)
        return len(data)

    def _take_tail(self) -> bytearray:
        """What was written since the last part, as its own buffer (cut to its length)."""
        tail, self._buffer = self._buffer or bytearray(), None
        del tail[self._filled :]
        self._filled = 0
        return tail

    def flush(self) -> None:
        # parts are sent as they fill; nothing to do until commit
        pass

    def _send_part(self, chunk: bytes | bytearray) -> None:
        self._raise_failed_part()
        if self._upload_id is None:
            created = self._storage._call(
                f"starting upload of {self._key}",
                lambda: self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key),
            )
            self._upload_id = created["UploadId"]
            self._pool = ThreadPoolExecutor(
                max_workers=self._in_flight, thread_name_prefix="s3-part"
            )
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(f"uploading {self._key}: more than {MAX_PARTS} parts")
        if number >= PLANNED_PARTS and number % GROWTH_EVERY == 0:  # bigger than its hint
            self._part_size = min(self._part_size * 2, MAX_PART_SIZE)
        self._slots.acquire()  # blocks the producer: bounded memory
        assert self._pool is not None
        self._parts.append(self._pool.submit(self._upload_part, number, chunk))

    def _upload_part(self, number: int, chunk: bytes | bytearray) -> CompletedPartTypeDef:
        try:
            upload_id = self._upload_id
            assert upload_id is not None
            response = self._storage._call(
                f"uploading part {number} of {self._key}",
                lambda: self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=cast(bytes, chunk),  # botocore takes a bytearray as it is (no copy)
                ),
            )
            return {"PartNumber": number, "ETag": response["ETag"]}
        finally:
            self._slots.release()

    def _raise_failed_part(self) -> None:
        # parts that succeeded are not looked at again: a 10,000-part upload stays linear
        while self._checked < len(self._parts) and self._parts[self._checked].done():
            failed = self._parts[self._checked].exception()
            if failed is not None:
                raise failed
            self._checked += 1
        for future in self._parts[self._checked :]:
            if future.done() and future.exception() is not None:
                raise cast(BaseException, future.exception())

    def commit(self) -> None:
        if self._closed:
            return
        try:
            if self._upload_id is None:
                data = bytes(self._take_tail())
                self._storage._call(
                    f"uploading {self._key}",
                    lambda: self._client.put_object(Bucket=self._bucket, Key=self._key, Body=data),
                )
            else:
                if self._filled:
                    self._send_part(self._take_tail())
                parts = [future.result() for future in self._parts]
                upload_id = self._upload_id
                self._storage._call(
                    f"completing upload of {self._key}",
                    lambda: self._client.complete_multipart_upload(
                        Bucket=self._bucket,
                        Key=self._key,
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                    ),
                )
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._buffer = None
        self._shutdown()

    def abort(self) -> None:
        """Drop everything; abort the multipart upload so no part lingers (best effort)."""
        if self._closed:
            return
        self._closed = True
        self._buffer = None
        for future in self._parts:
            future.cancel()
        self._shutdown()
        if self._upload_id is not None:
            # the endpoint may be the thing that failed; `purge` aborts stale uploads later
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
