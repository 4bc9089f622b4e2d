"""S3-compatible object storage through botocore, boto3's core (its streaming writer:
s3_multipart)."""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.handlers import VALID_BUCKET
from botocore.utils import (
    is_valid_endpoint_url,
    is_valid_ipv6_endpoint_url,
    validate_region_name,
)

from pgback.config import Settings
from pgback.errors import ConfigError, NotFoundError, StorageError
from pgback.storage.base import ObjectInfo, ObjectWriter, SizeHint
from pgback.storage.s3_multipart import MIB, MultipartWriter
from pgback.text import brief

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("pgback")

T = TypeVar("T")


@dataclass(frozen=True)
class S3Options:
    bucket: str
    endpoint: str | None = None
    region: str | None = None
    key_id: str | None = None
    secret: str | None = None
    force_path: bool = False
    tls: bool = True
    part_size: int = 8 * MIB
    max_in_flight: int = 2
    max_attempts: int = 5
    create_bucket: bool = False  # check() creates a missing bucket instead of failing

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Options:
        """The S3 backend's own settings (`s3_*`); a missing bucket, or one boto3 would
        refuse, is a configuration error."""
        problems = settings_problems(settings)
        if problems or not settings.s3_bucket:
            raise ConfigError(problems)
        return cls(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            key_id=settings.s3_key_id.reveal() if settings.s3_key_id else None,
            secret=settings.s3_secret.reveal() if settings.s3_secret else None,
            force_path=settings.s3_force_path,
            tls=settings.s3_tls,
            part_size=settings.s3_part_size_mib * MIB,
            max_attempts=settings.s3_max_attempts,
            create_bucket=settings.s3_create_bucket,
        )


def settings_problems(settings: Settings) -> list[str]:
    """What boto3 would refuse before sending anything (the bucket's name, the region, the
    endpoint URL), found without a request: `pgback config` reports them too."""

    def where(key: str) -> str:
        return f"{key} ({settings.sources.get(key, 'default')})"

    bucket, region, endpoint = settings.s3_bucket, settings.s3_region, settings.s3_endpoint
    problems: list[str] = []
    if not bucket:
        problems.append(
            "s3_bucket is not set: set PGBACK_S3_BUCKET (or --s3-bucket), or "
            "repository = s3://BUCKET/PREFIX"
        )
    elif not VALID_BUCKET.fullmatch(bucket):
        problems.append(
            f"{where('s3_bucket')} = {brief(bucket)}: not a bucket name (letters, digits, '.', "
            "'-' and '_', at most 255)"
        )
    if region:
        try:
            validate_region_name(region)
        except InvalidRegionError:
            problems.append(f"{where('s3_region')} = {brief(region)}: not a region (us-east-1...)")
    url = _endpoint_url(endpoint, settings.s3_tls)
    if url and not _valid_endpoint(url):
        problems.append(
            f"{where('s3_endpoint')} = {brief(endpoint)}: not an endpoint URL like "
            "https://host:port"
        )
    return problems


def _valid_endpoint(url: str) -> bool:
    try:
        return bool(is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url))
    except ValueError:  # urlsplit's own refusal (an unclosed [IPv6 address)
        return False


def _endpoint_url(endpoint: str | None, tls: bool) -> str | None:
    if not endpoint:
        return None
    if "://" in endpoint:
        return endpoint
    return ("https://" if tls else "http://") + endpoint


def make_client(opts: S3Options) -> S3Client:
    config = Config(
        s3={"addressing_style": "path" if opts.force_path else "auto"},
        # total_max_attempts counts the first try (botocore's max_attempts would not)
        retries={"total_max_attempts": opts.max_attempts, "mode": "standard"},
        # many S3-compatible servers reject or mangle the newer default checksums
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=16,
    )
    # botocore's own client, as boto3 would make it (boto3 only adds its transfer manager and
    # resources, which pgback does not use, for about 40 ms of each start)
    try:
        client = botocore.session.Session().create_client(
            "s3",
            endpoint_url=_endpoint_url(opts.endpoint, opts.tls),
            region_name=opts.region,
            aws_access_key_id=opts.key_id,
            aws_secret_access_key=opts.secret,
            config=config,
        )
    except (ValueError, BotoCoreError) as exc:
        # our settings are checked before (settings_problems): this is botocore's own
        # configuration (AWS_ENDPOINT_URL_S3, AWS_REGION, ~/.aws/config)
        raise ConfigError(
            [
                f"boto3 refuses its configuration: {exc} (check AWS_ENDPOINT_URL_S3, "
                "AWS_REGION, AWS_CONFIG_FILE)"
            ]
        ) from None
    return cast("S3Client", client)


# answers botocore retries (with backoff, up to s3_max_attempts) before they reach us
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}
)


def _explain(exc: Exception, what: str, bucket: str, endpoint: str = "S3") -> Exception:
    """One-line StorageError/NotFoundError saying what failed and what to do; never secrets."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return StorageError(f"{what}: bucket {bucket!r} does not exist: create it first")
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return NotFoundError(f"{what}: no such object in bucket {bucket!r}")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(
                f"{what}: S3 rejected the credentials ({code}): check s3_key_id and s3_secret"
            )
        if code in ("AccessDenied", "403") or status == 403:
            return StorageError(
                f"{what}: access denied on bucket {bucket!r}: the key needs read, write, "
                "list and delete permissions on it"
            )
        if (isinstance(status, int) and status >= 500) or code in _TRANSIENT_CODES:
            return StorageError(
                f"{what}: the S3 endpoint {endpoint} kept answering {code or 'an error'} (HTTP "
                f"{status}) through every retry (s3_max_attempts): check its health and load, "
                "then run the command again"
            )
        return StorageError(f"{what}: S3 error {code or status} on bucket {bucket!r}")
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"{what}: no S3 credentials: set s3_key_id and s3_secret")
    if isinstance(
        exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)
    ):
        return StorageError(
            f"{what}: the S3 endpoint {endpoint} stopped answering ({type(exc).__name__}) "
            "after retries: check s3_endpoint and the network, then run the backup again"
        )
    if isinstance(exc, BotoCoreError):
        return StorageError(f"{what}: S3 client error: {type(exc).__name__}")
    return exc


def open_s3(settings: Settings) -> S3Storage:
    return S3Storage(S3Options.from_settings(settings))


class S3Storage:
    def __init__(self, opts: S3Options, client: S3Client | None = None) -> None:
        self.opts = opts
        self.bucket = opts.bucket
        self.client = client or make_client(opts)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, what, self.bucket, self._endpoint) from None

    @property
    def _endpoint(self) -> str:
        """The endpoint boto3 actually uses: s3_endpoint, else its own AWS_ENDPOINT_URL_S3
        or AWS_ENDPOINT_URL, else AWS's for the region (AWS_REGION, ~/.aws/config)."""
        resolved = getattr(getattr(self.client, "meta", None), "endpoint_url", None)
        endpoint = str(resolved or _endpoint_url(self.opts.endpoint, self.opts.tls) or "of AWS")
        if not self.opts.endpoint:
            for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
                if os.environ.get(name):
                    return f"{endpoint} (from {name})"
        return endpoint

    def describe(self) -> str:
        endpoint = self._endpoint
        return f"s3://{self.bucket} ({endpoint})"

    def open_writer(self, key: str, size_hint: SizeHint | None = None) -> ObjectWriter:
        return MultipartWriter(self, key, size_hint)

    def open_reader(self, key: str) -> BinaryIO:
        response = self._call(
            f"reading {key}", lambda: self.client.get_object(Bucket=self.bucket, Key=key)
        )
        return cast(BinaryIO, _BodyReader(response["Body"], key, self.bucket, self._endpoint))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call(
            f"uploading {key}",
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data),
        )

    def get_bytes(self, key: str) -> bytes:
        with self.open_reader(key) as body:
            return body.read()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        # page by page as botocore's paginator would, without building one (its model and
        # class cost a restore's start-up about 10 ms)
        what = f"listing {prefix or '/'}"
        token: str | None = None
        while True:
            more = {"ContinuationToken": token} if token else {}
            request = partial(self.client.list_objects_v2, Bucket=self.bucket, Prefix=prefix)
            page = self._call(what, partial(request, **more))
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], item["Size"], item.get("LastModified"))
            following = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not following:
                return
            if following == token:
                raise StorageError(
                    f"{what} in s3://{self.bucket} ({self._endpoint}): the endpoint answered "
                    "the same page twice (a repeated continuation token)"
                )
            token = following

    def delete(self, keys: builtins.list[str]) -> None:
        # one by one, in order: the manifest goes first so a half-deleted set reads incomplete
        for key in keys:
            self._delete_one(key)

    def _delete_one(self, key: str) -> None:
        self._call(
            f"deleting {key}", lambda: self.client.delete_object(Bucket=self.bucket, Key=key)
        )

    def check(self) -> None:
        what = "checking the bucket"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            # a HEAD answer has no body: a bare 404 or 403 tells neither a missing bucket from
            # a wrong name, nor wrong credentials from missing permissions; a listing's does
            try:
                self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
            except ClientError as probe:
                missing = probe.response.get("Error", {}).get("Code") == "NoSuchBucket"
                if missing and self.opts.create_bucket:
                    self._create_bucket()
                    return
                raise _explain(probe, what, self.bucket, self._endpoint) from None
            except BotoCoreError as probe:
                raise _explain(probe, what, self.bucket, self._endpoint) from None
            raise _explain(exc, what, self.bucket, self._endpoint) from None
        except BotoCoreError as exc:
            raise _explain(exc, what, self.bucket, self._endpoint) from None

    def _create_bucket(self) -> None:
        """s3_create_bucket: make the missing bucket (outside us-east-1, S3 wants the region
        as a location constraint; self-hosted servers take it or ignore it)."""
        region = self.opts.region
        try:
            if region and region != "us-east-1":
                self.client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                )
            else:
                self.client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists") and self._exists():
                return  # another host made it meanwhile
            raise StorageError(
                f"creating the missing bucket {self.bucket!r} (s3_create_bucket): S3 refused "
                f"({code or exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')}): "
                "create it yourself, or give the key permission to create buckets"
            ) from None
        except BotoCoreError as exc:
            raise _explain(exc, "creating the bucket", self.bucket, self._endpoint) from None
        log.info("created the missing bucket %s (s3_create_bucket)", self.bucket)

    def _exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError):
            return False
        return True

    def now(self) -> datetime:
        """The S3 server's clock, from its HTTP Date header (the clock of LastModified)."""
        response = self._call(
            "reading the S3 server's time", lambda: self.client.head_bucket(Bucket=self.bucket)
        )
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                return parsedate_to_datetime(date).astimezone(UTC)
        # no Date header (HTTP/1.1 servers must send one): this host's real clock
        return datetime.fromtimestamp(time.clock_gettime(time.CLOCK_REALTIME), UTC)

    def list_uploads(self, prefix: str) -> builtins.list[tuple[str, str]]:
        def listing() -> Any:
            try:
                return self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
            except ClientError as exc:
                # rclone serve s3 answers 404 NoSuchUpload to a listing in a bucket that has
                # had no multipart upload yet: there is none (docs/compatibility.md)
                if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                    return {}
                raise

        found = self._call("listing multipart uploads", listing)
        return [(u["Key"], u["UploadId"]) for u in found.get("Uploads", [])]

    def abort_upload(self, key: str, upload_id: str) -> None:
        self._call(
            f"aborting the upload of {key}",
            lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ),
        )


class _BodyReader:
    """botocore's streaming body, with errors translated and a context manager."""

    def __init__(self, body: Any, key: str, bucket: str, endpoint: str) -> None:
        self._body = body
        self._key = key
        self._bucket = bucket
        self._endpoint = endpoint

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(None if size is None or size < 0 else size)
            return data
        except (ClientError, BotoCoreError) as exc:
            raise _explain(exc, f"reading {self._key}", self._bucket, self._endpoint) from None
        except OSError as exc:
            raise StorageError(f"reading {self._key}: connection lost: {exc}") from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _BodyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
