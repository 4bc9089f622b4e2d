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


class MultipartWriter:
    """Buffers one part at a time; at most `max_in_flight` parts upload while the next fills.

    Memory is bounded by (max_in_flight + 1) * part_size whatever the object size. Small
    objects (under one part) go up in a single PUT. Part size doubles every 1,000 parts so a
    huge dump never runs out of S3's 10,000 parts.
    """

    def __init__(self, storage: S3Storage, key: str) -> None:
        self._storage = storage
        self._client = storage.client
        self._bucket = storage.bucket
        self._key = key
        self._part_size = storage.opts.part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: builtins.list[Future[CompletedPartTypeDef]] = []
        self._slots = threading.BoundedSemaphore(storage.opts.max_in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self.bytes_written = 0

    def write(self, data: bytes) -> int:
        if self._closed:
            raise StorageError(f"uploading {self._key}: write after close")
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= self._part_size:
            # hand the filled buffer itself to the upload (no copy of the part): keep only what
            # overflowed it (less than one write) as the start of the next part
            chunk = self._buffer
            self._buffer = chunk[self._part_size :]
            del chunk[self._part_size :]
            self._send_part(chunk)
        return len(data)

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
                max_workers=self._storage.opts.max_in_flight, thread_name_prefix="s3-part"
            )
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(f"uploading {self._key}: more than {MAX_PARTS} parts")
        if number % 1000 == 0:
            self._part_size = min(self._part_size * 2, 5 * 1024 * MIB)
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
        for future in self._parts:
            if future.done() and future.exception() is not None:
                raise cast(BaseException, future.exception())

    def commit(self) -> None:
        if self._closed:
            return
        try:
            if self._upload_id is None:
                data = bytes(self._buffer)
                self._storage._call(
                    f"uploading {self._key}",
                    lambda: self._client.put_object(Bucket=self._bucket, Key=self._key, Body=data),
                )
            else:
                if self._buffer:
                    chunk, self._buffer = self._buffer, bytearray()
                    self._send_part(chunk)
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
        self._buffer = bytearray()
        self._shutdown()

    def abort(self) -> None:
        """Drop everything; abort the multipart upload so no part lingers (best effort)."""
        if self._closed:
            return
        self._closed = True
        self._buffer = bytearray()
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
