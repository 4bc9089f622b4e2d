"""The S3 backend's streaming writer: a multipart upload in bounded memory."""

from __future__ import annotations

import builtins
import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError

from pgback.errors import StorageError
from pgback.storage.base import SizeHint

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


def _whole_mib(size: int) -> int:
    return -(-size // MIB) * MIB


def part_size_for(configured: int, size_hint: int | None) -> int:
    """The smallest part size (whole MiB, at least `configured`) that holds `size_hint`
    bytes in PLANNED_PARTS parts."""
    if not size_hint:
        return configured
    needed = -(-size_hint // PLANNED_PARTS)
    return min(MAX_PART_SIZE, max(configured, _whole_mib(needed)))


def expected_object_size(hint: SizeHint, stored: int) -> int:
    """How big the object is heading to be, `stored` bytes into it: the rest of the hinted
    input at the ratio seen so far (stored / read). Without a reading: the input's size, as
    if nothing compressed. Past the hint: what is stored (the growth past the plan takes
    over)."""
    read = hint.read() if hint.read is not None else 0
    if read <= 0 or stored <= 0:
        return hint.total
    if read >= hint.total:
        return stored
    return stored + -(-stored * (hint.total - read) // read)


def next_part_size(current: int, parts_sent: int, stored: int, expected: int) -> int:
    """The size of the next part: what is left of the expected object spread over what is
    left of PLANNED_PARTS, in whole MiB; never smaller than `current`, never over 5 GiB."""
    left = PLANNED_PARTS - parts_sent
    if left <= 0:
        return current
    needed = -(-max(0, expected - stored) // left)
    return min(MAX_PART_SIZE, max(current, _whole_mib(needed)))


class MultipartWriter:
    """Buffers one part at a time while earlier parts upload, within a memory budget.

    Each part is held in memory until S3 has it, so that a failed part can be sent again:
    memory is the part being filled plus the parts in flight, and parts may fly at once only
    while they fit in `max_in_flight` x `s3_part_size` (one always may). Parts start at
    `s3_part_size`; with a size hint, each new part is sized so the rest of the object, as
    the stream so far says it will be (`expected_object_size`), fits in what is left of
    PLANNED_PARTS: a dump that compresses 4x grows its parts a quarter as much as one that
    does not. Past PLANNED_PARTS part sizes double every GROWTH_EVERY parts, so an object
    bigger than its hint still fits in S3's 10,000. Small objects (under one part) go up in
    a single PUT.
    """

    def __init__(self, storage: S3Storage, key: str, size_hint: SizeHint | None = None) -> None:
        self._storage = storage
        self._client = storage.client
        self._bucket = storage.bucket
        self._key = key
        opts = storage.opts
        self._hint = size_hint
        # without a reading of the input, the hint is taken as the object's size from the start
        unread = size_hint.total if size_hint is not None and size_hint.read is None else None
        self._part_size = part_size_for(opts.part_size, unread)
        # the part being filled. The first grows as it fills: an object under one part (the
        # globals, a small database) never touches a whole part's pages. The next ones are
        # allocated at their final size, so they never grow (a growing bytearray may be
        # reallocated, both copies in memory for a moment, while parts are in flight).
        self._buffer: bytearray | None = None
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: builtins.list[Future[CompletedPartTypeDef]] = []
        self._checked = 0  # self._parts[:_checked] are known to have succeeded
        self._max_in_flight = opts.max_in_flight
        self._budget = opts.max_in_flight * opts.part_size  # bytes of parts uploading at once
        self._flying = 0  # bytes of the parts uploading now
        self._flying_parts = 0
        self._room = threading.Condition()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise StorageError(f"uploading {self._key}: write after close")
        view = memoryview(data).cast("B")
        while view:
            if self._buffer is None:
                self._plan_next_part()
                self._buffer = bytearray(self._part_size) if self._parts else bytearray()
                self._filled = 0
            take = min(len(view), self._part_size - self._filled)
            if len(self._buffer) < self._part_size:  # the first part, growing
                self._buffer += view[:take]
            else:
                self._buffer[self._filled : self._filled + take] = view[:take]
            self._filled += take
            self.bytes_written += take
            view = view[take:]
            if self._filled == self._part_size:
                # the filled buffer itself goes to the upload: no copy of the part
                chunk, self._buffer = self._buffer, None
                self._send_part(chunk)
        return len(data)

    def _plan_next_part(self) -> None:
        sent = len(self._parts)
        if sent >= PLANNED_PARTS:
            if sent % GROWTH_EVERY == 0:  # bigger than its hint
                self._part_size = min(self._part_size * 2, MAX_PART_SIZE)
        elif self._hint is not None and self._hint.read is not None and self.bytes_written:
            expected = expected_object_size(self._hint, self.bytes_written)
            self._part_size = next_part_size(self._part_size, sent, self.bytes_written, expected)

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
                max_workers=self._max_in_flight, thread_name_prefix="s3-part"
            )
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(f"uploading {self._key}: more than {MAX_PARTS} parts")
        size = len(chunk)
        with self._room:  # blocks the producer: bounded memory
            self._room.wait_for(
                lambda: (
                    self._flying == 0
                    or (
                        self._flying + size <= self._budget
                        and self._flying_parts < self._max_in_flight
                    )
                )
            )
            self._flying += size
            self._flying_parts += 1
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
            with self._room:
                self._flying -= len(chunk)
                self._flying_parts -= 1
                self._room.notify_all()

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
