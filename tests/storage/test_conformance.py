"""One conformance suite for every storage backend: memory, a local directory, S3 (moto server).

What every backend promises the engine: bytes come back as written; a streaming upload is
invisible until committed and leaves nothing behind when aborted; listing is by prefix and in
key order; deletes happen in the order given; missing objects and missing buckets fail clearly.
"""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from pgback.errors import NotFoundError, StorageError
from pgback.storage.base import ObjectWriter, Storage, UploadJanitor
from pgback.storage.local import LocalStorage
from pgback.storage.memory import MemoryStorage
from pgback.storage.s3 import MIB, S3Options, S3Storage
from pgback.testbed import S3Server

PART = 5 * MIB  # S3's smallest part: the writer's part size in these tests


@dataclass
class Backend:
    name: str
    storage: Storage
    leftovers: Callable[[], list[str]]  # partial uploads or temp files a crash could leave


def s3_storage(s3: S3Server, bucket: str) -> S3Storage:
    return S3Storage(
        S3Options(
            bucket=bucket,
            endpoint=s3.endpoint_url,
            region=s3.region,
            key_id=s3.access_key,
            secret=s3.secret_key,
            force_path=True,
            part_size=PART,
            max_attempts=2,
        )
    )


def _make_backend(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> Backend:
    if name == "memory":
        return Backend(name, MemoryStorage(), lambda: [])
    if name == "local":
        root = tmp_path / "store"
        root.mkdir()
        return Backend(
            name,
            LocalStorage(root),
            lambda: [str(p) for p in root.rglob(".partial-*")],
        )
    s3: S3Server = request.getfixturevalue("s3")
    bucket: str = request.getfixturevalue("bucket")
    client = s3.client()

    def uploads() -> list[str]:
        found = client.list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in found.get("Uploads", [])]

    return Backend(name, s3_storage(s3, bucket), uploads)


ALL = ["memory", "local", pytest.param("s3", marks=pytest.mark.integration)]


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _make_backend(request, request.param, tmp_path)


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def write_in_chunks(writer: ObjectWriter, data: bytes, chunk: int = 777_777) -> None:
    for start in range(0, len(data), chunk):
        writer.write(data[start : start + chunk])


def keys_of(storage: Storage, prefix: str = "") -> list[str]:
    return [info.key for info in storage.list(prefix)]


# --- put / get ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 1000, 256 * 1024])
def test_storage_put_bytes_then_get_bytes_returns_same_bytes(backend: Backend, size: int) -> None:
    data = payload(size)

    backend.storage.put_bytes("set/20250101T000000Z/file.bin", data)

    assert backend.storage.get_bytes("set/20250101T000000Z/file.bin") == data


def test_storage_put_bytes_existing_key_is_replaced(backend: Backend) -> None:
    backend.storage.put_bytes("k", b"first version, longer")
    backend.storage.put_bytes("k", b"second")

    assert backend.storage.get_bytes("k") == b"second"
    assert [(i.key, i.size) for i in backend.storage.list("")] == [("k", 6)]


def test_storage_open_reader_streams_the_object_in_pieces(backend: Backend) -> None:
    data = payload(300_000, seed=2)
    backend.storage.put_bytes("odd name %20 ü/x.dump", data)

    pieces = []
    with backend.storage.open_reader("odd name %20 ü/x.dump") as reader:
        while chunk := reader.read(65_536):
            assert len(chunk) <= 65_536
            pieces.append(chunk)

    assert b"".join(pieces) == data


# --- streaming writer --------------------------------------------------------------------------


def test_storage_writer_small_object_is_stored_on_commit(backend: Backend) -> None:
    writer = backend.storage.open_writer("a/small")
    writer.write(b"hello ")
    writer.write(b"world")
    writer.flush()

    assert keys_of(backend.storage) == []  # nothing visible before commit
    writer.commit()

    assert backend.storage.get_bytes("a/small") == b"hello world"
    assert backend.leftovers() == []


def test_storage_writer_several_parts_round_trip(backend: Backend) -> None:
    data = payload(12 * MIB + 12_345, seed=3)
    writer = backend.storage.open_writer("big/object.dump.zst.age")
    write_in_chunks(writer, data)

    assert keys_of(backend.storage) == []  # parts uploaded, object not visible yet
    writer.commit()

    with backend.storage.open_reader("big/object.dump.zst.age") as reader:
        digest = hashlib.sha256()
        while chunk := reader.read(MIB):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert [(i.key, i.size) for i in backend.storage.list("big/")] == [
        ("big/object.dump.zst.age", len(data))
    ]
    assert backend.leftovers() == []


@pytest.mark.integration
def test_s3_writer_large_object_is_a_multipart_upload_of_the_part_size(
    s3: S3Server, bucket: str
) -> None:
    storage = s3_storage(s3, bucket)
    writer = storage.open_writer("big")
    write_in_chunks(writer, payload(12 * MIB, seed=4))
    writer.commit()

    etag = s3.client().head_object(Bucket=bucket, Key="big")["ETag"]

    assert etag.strip('"').endswith("-3")  # 5 MiB + 5 MiB + 2 MiB


@pytest.mark.parametrize("size", [100, 12 * MIB])
def test_storage_writer_abort_leaves_nothing(backend: Backend, size: int) -> None:
    writer = backend.storage.open_writer("partial/object")
    write_in_chunks(writer, payload(size, seed=5))

    writer.abort()

    assert keys_of(backend.storage) == []
    with pytest.raises(NotFoundError):
        backend.storage.get_bytes("partial/object")
    assert backend.leftovers() == []


def test_storage_writer_abort_keeps_the_previous_version(backend: Backend) -> None:
    backend.storage.put_bytes("k", b"good copy")
    writer = backend.storage.open_writer("k")
    write_in_chunks(writer, payload(6 * MIB))

    writer.abort()

    assert backend.storage.get_bytes("k") == b"good copy"


# --- list --------------------------------------------------------------------------------------


def test_storage_list_prefix_gives_matching_keys_in_key_order_with_sizes(
    backend: Backend,
) -> None:
    keys = [
        "b/20250102T000000Z/manifest.json",
        "b/20250101T000000Z/z.dump",
        "b/20250101T000000Z/a.dump",
        "b/20250101T000000Z/my%20db.dump",
        "b2/20250101T000000Z/a.dump",
        "b/notes.txt",
        "a/x",
        "b/20250101T000000Z/sub/deeper",
    ]
    shuffled = keys[:]
    random.Random(9).shuffle(shuffled)
    for index, key in enumerate(shuffled):
        backend.storage.put_bytes(key, b"x" * index)

    listed = list(backend.storage.list("b/"))

    assert [i.key for i in listed] == sorted(k for k in keys if k.startswith("b/"))
    assert {i.key: i.size for i in listed} == {
        k: shuffled.index(k) for k in keys if k.startswith("b/")
    }
    assert keys_of(backend.storage, "") == sorted(keys)
    assert keys_of(backend.storage, "b") == sorted(k for k in keys if k.startswith("b"))
    assert keys_of(backend.storage, "nothing/") == []


@pytest.mark.integration
def test_s3_list_more_than_one_page_gives_every_key(s3: S3Server, bucket: str) -> None:
    client = s3.client()
    keys = [f"p/{i:05d}" for i in range(1005)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""), keys))

    assert keys_of(s3_storage(s3, bucket), "p/") == keys


# --- delete ------------------------------------------------------------------------------------


class _OrderWatchingKeys(list[str]):
    """A key list that, as the backend walks it, checks the previous key is already gone."""

    def __init__(self, keys: list[str], storage: Storage) -> None:
        super().__init__(keys)
        self.storage = storage
        self.checked: list[str] = []

    def __iter__(self) -> Iterator[str]:
        previous = None
        for key in super().__iter__():
            if previous is not None:
                assert previous not in keys_of(self.storage), f"{previous} not yet deleted"
                assert key in keys_of(self.storage) or key.endswith("missing")
                self.checked.append(previous)
            previous = key
            yield key


def test_storage_delete_removes_keys_in_the_order_given(backend: Backend) -> None:
    for key in ("s/manifest.json", "s/a.dump", "s/b.dump", "t/keep"):
        backend.storage.put_bytes(key, b"data")
    keys = _OrderWatchingKeys(["s/manifest.json", "s/b.dump", "s/a.dump"], backend.storage)

    backend.storage.delete(keys)

    assert keys.checked == ["s/manifest.json", "s/b.dump"]
    assert keys_of(backend.storage) == ["t/keep"]


def test_storage_delete_missing_keys_is_not_an_error(backend: Backend) -> None:
    backend.storage.put_bytes("here", b"1")

    backend.storage.delete(["missing", "here", "also/missing"])

    assert keys_of(backend.storage) == []


# --- errors ------------------------------------------------------------------------------------


def test_storage_missing_key_raises_not_found_naming_it(backend: Backend) -> None:
    backend.storage.put_bytes("present", b"1")

    with pytest.raises(NotFoundError, match="absent/key"):
        backend.storage.get_bytes("absent/key")
    with pytest.raises(NotFoundError, match="absent/key"):
        backend.storage.open_reader("absent/key")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def missing_container(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Storage, str]:
    """A backend whose bucket (or directory) does not exist, and that container's name."""
    if request.param == "local":
        root = tmp_path / "no-such-dir"
        return LocalStorage(root), str(root)
    s3: S3Server = request.getfixturevalue("s3")
    name = f"missing-{uuid.uuid4().hex[:12]}"
    return s3_storage(s3, name), name


def test_storage_missing_bucket_check_raises_storage_error_saying_so(
    missing_container: tuple[Storage, str],
) -> None:
    storage, name = missing_container

    with pytest.raises(StorageError) as caught:
        storage.check()

    message = str(caught.value)
    assert name in message and "does not exist" in message and "create it" in message


@pytest.mark.integration
def test_s3_missing_bucket_every_operation_raises_a_clear_storage_error(s3: S3Server) -> None:
    storage = s3_storage(s3, f"missing-{uuid.uuid4().hex[:12]}")
    writer = storage.open_writer("k")
    writer.write(b"small")

    operations: list[Callable[[], object]] = [
        lambda: list(storage.list("")),
        lambda: storage.put_bytes("k", b"1"),
        writer.commit,
    ]
    for operation in operations:
        with pytest.raises(StorageError, match="does not exist: create it first"):
            operation()


@pytest.mark.integration
def test_s3_unreachable_endpoint_raises_storage_error(s3: S3Server) -> None:
    from pgback.testbed.ports import free_port

    storage = S3Storage(
        S3Options(
            bucket="b",
            endpoint=f"http://127.0.0.1:{free_port()}",
            region="us-east-1",
            key_id="k",
            secret="s3cr3t-value",
            force_path=True,
            max_attempts=1,
        )
    )

    with pytest.raises(StorageError) as caught:
        storage.check()

    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.integration
def test_s3_describe_names_bucket_and_endpoint_never_the_secret(s3: S3Server, bucket: str) -> None:
    storage = S3Storage(
        S3Options(bucket=bucket, endpoint=s3.endpoint_url, key_id="AKIDEXAMPLE", secret="s3cr3t")
    )

    assert storage.describe() == f"s3://{bucket} ({s3.endpoint_url})"
    assert "s3cr3t" not in storage.describe() and "AKIDEXAMPLE" not in storage.describe()


def test_local_storage_key_escaping_the_directory_is_refused(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")

    with pytest.raises(StorageError, match="escapes"):
        storage.put_bytes("../outside", b"x")

    assert not (tmp_path / "outside").exists()


def test_local_storage_delete_removes_emptied_set_folders(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    storage = LocalStorage(root)
    storage.put_bytes("p/20250101T000000Z/a", b"1")
    storage.put_bytes("p/20250102T000000Z/a", b"1")

    storage.delete(["p/20250101T000000Z/a"])

    assert sorted(os.listdir(root / "p")) == ["20250102T000000Z"]


def test_storage_unfinished_upload_is_listed_until_aborted(backend: Backend) -> None:
    writer = backend.storage.open_writer("p/20250101T000000Z/big.dump")
    write_in_chunks(writer, payload(6 * MIB, seed=6))  # a part is already uploaded on S3

    # the process "dies" here: neither commit nor abort
    storage = backend.storage
    # only backends whose uploads can outlive their writer list them (S3 multipart uploads)
    found = storage.list_uploads("p/") if isinstance(storage, UploadJanitor) else []
    for key, upload_id in found:
        assert isinstance(storage, UploadJanitor)
        storage.abort_upload(key, upload_id)

    if backend.name == "s3":
        assert [key for key, _ in found] == ["p/20250101T000000Z/big.dump"]
        assert isinstance(storage, UploadJanitor) and storage.list_uploads("p/") == []
    else:
        assert found == []  # local and memory writes only appear whole
        assert not isinstance(storage, UploadJanitor)
    assert keys_of(backend.storage) == []
    writer.abort()  # after its upload was aborted from outside: still clean, no error
    assert backend.leftovers() == []


def test_storage_now_is_the_clock_objects_are_stamped_with(backend: Backend) -> None:
    """Run marks are judged as now() - last_modified: both on the store's own clock."""
    before = backend.storage.now()
    backend.storage.put_bytes("clock/probe", b"x")
    stamped = [obj.last_modified for obj in backend.storage.list("clock/")]
    after = backend.storage.now()

    assert len(stamped) == 1 and stamped[0] is not None
    # S3 stamps to the millisecond and answers its Date header to the second
    slack = timedelta(seconds=1)
    assert before - slack <= stamped[0] <= after + slack
    assert after - before < timedelta(seconds=30)


@pytest.mark.integration
def test_s3_now_follows_the_servers_clock_not_a_frozen_one(s3: S3Server, bucket: str) -> None:
    storage = s3_storage(s3, bucket)
    real = datetime.now(UTC)

    with freeze_time("2001-02-03 04:05:06"):
        seen = storage.now()

    assert abs(seen - real) < timedelta(seconds=30)
