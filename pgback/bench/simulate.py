"""`python -m pgback.bench --simulate 10,100,1000`: databases larger than this machine.

N GB of generated pg_dump-like data (COPY rows of a wide table, no server) go through the real
upload pipeline (actions.upload.upload: zstd, age, sha256, the S3 backend's MultipartWriter with
its part-size growth) into an S3 client that checks every call as S3 would and keeps nothing.
Each size runs in its own process, so its peak RSS is its own.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pgback.actions.upload import UploadPlan, upload
from pgback.adapters import crypto
from pgback.bench.probes import read_memory
from pgback.manifest import Encryption
from pgback.progress import Progress
from pgback.storage.s3 import S3Options, S3Storage
from pgback.storage.s3_multipart import MAX_PARTS, MIB

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GB = 1000**3
MIN_PART = 5 * MIB  # every part but the last (S3's rule)
MAX_PART = 5 * 1024 * MIB
POOL_BLOCKS = 16  # 16 MiB of distinct rows, cycled: more than one zstd frame's input (4 MiB)
BLOCK = MIB
# pg_database_size over the size of its dump's COPY data: 1.5 for the benchmark's database
# (1.98 GB holding 1.32 GB of `pg_dump -Z0` output); backup sizes parts from the former
DATABASE_OVER_DUMP = 1.5


@dataclass
class PartCheck:
    """What the discarding endpoint saw of one multipart upload."""

    parts: int = 0
    bytes: int = 0
    smallest_but_last: int = 0
    largest: int = 0
    sizes_by_thousand: list[int] = field(default_factory=list)  # each 1,000th part's size
    problems: list[str] = field(default_factory=list)


class DiscardingS3Client:
    """The calls MultipartWriter makes, answered as S3 answers them, the bodies dropped.

    It refuses what S3 refuses: a part number over 10,000, a part over 5 GiB, a part under
    5 MiB that is not the last, parts completed out of order or missing.
    """

    def __init__(self) -> None:
        self.check = PartCheck()
        self._sizes: dict[int, int] = {}
        self._lock = threading.Lock()

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "simulated"}

    def upload_part(self, *, PartNumber: int, Body: bytes, **_: Any) -> dict[str, str]:
        size = len(Body)
        with self._lock:
            if not 1 <= PartNumber <= MAX_PARTS:
                self.check.problems.append(f"part number {PartNumber} outside 1-{MAX_PARTS}")
            if size > MAX_PART:
                self.check.problems.append(f"part {PartNumber} is {size} bytes, over 5 GiB")
            self._sizes[PartNumber] = size
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, *, MultipartUpload: dict[str, Any], **_: Any) -> None:
        numbers = [part["PartNumber"] for part in MultipartUpload["Parts"]]
        if numbers != list(range(1, len(numbers) + 1)) or set(numbers) != set(self._sizes):
            self.check.problems.append("parts completed out of order or missing")
        sizes = [self._sizes[n] for n in sorted(self._sizes)]
        too_small = [n for n, size in enumerate(sizes[:-1], 1) if size < MIN_PART]
        if too_small:
            self.check.problems.append(f"{len(too_small)} parts under 5 MiB before the last")
        self.check.parts = len(sizes)
        self.check.bytes = sum(sizes)
        self.check.smallest_but_last = min(sizes[:-1], default=0)
        self.check.largest = max(sizes, default=0)
        self.check.sizes_by_thousand = sizes[999::1000]

    def put_object(self, *, Body: bytes, **_: Any) -> None:
        self.check.parts, self.check.bytes = 1, len(Body)
        self.check.largest = len(Body)

    def abort_multipart_upload(self, **_: Any) -> None:
        self.check.problems.append("the upload was aborted")


class DumpLikeSource:
    """`total` bytes shaped like pg_dump's COPY data of the benchmark's table, from a pool of
    distinct 1 MiB blocks handed out in turn: generated once, so that the pipeline, not the
    generator, is what is measured."""

    def __init__(self, total: int, seed: int = 15) -> None:
        self._left = total
        self._pool = [memoryview(_block(seed + n)) for n in range(POOL_BLOCKS)]
        self._next = 0
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(size if size > 0 else BLOCK)
        count = self.readinto(memoryview(buffer))
        return bytes(buffer[:count])

    def readinto(self, buffer: memoryview) -> int:
        filled = 0
        while filled < len(buffer) and self._left > 0:
            block = self._pool[self._next]
            piece = block[self._offset : self._offset + min(len(buffer) - filled, self._left)]
            buffer[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._left -= len(piece)
            self._offset += len(piece)
            if self._offset == len(block):
                self._next, self._offset = (self._next + 1) % len(self._pool), 0
        return filled


def _block(n: int) -> bytes:
    """1 MiB of COPY rows shaped like the benchmark's table (pgback/bench/dataset.py): the
    same columns and value patterns, so it compresses as that real dump does."""
    kinds = ("deposit", "withdrawal", "transfer", "fee", "refund")
    rows = []
    size = 0
    i = n * 10_000_000
    while size < BLOCK:
        i += 1
        seconds = i * 3
        day, rest = divmod(seconds, 86_400)
        row = (
            f"{i}\t{(i * 7919) % 100000}\t{kinds[i % 5]}\t{(i * 37) % 1000000 / 100:.2f}\t"
            f"{_date(day)} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}+00\t"
            f"{hashlib.md5(str(i).encode()).hexdigest()}\t"
            f"customer {i % 5000} order {i} status {kinds[i % 3]}\n"
        ).encode()
        rows.append(row)
        size += len(row)
    return b"".join(rows)[:BLOCK]


def _date(day: int) -> str:
    return (datetime.date(2020, 1, 1) + datetime.timedelta(days=day % 36_500)).isoformat()


@dataclass
class Simulated:
    input_gb: float
    output_bytes: int
    parts: int
    largest_part_mib: float
    smallest_part_but_last_mib: float
    part_mib_by_thousand: list[float]
    size_hint_gb: float | None
    seconds: float
    cpu_seconds: float
    input_mb_per_s: float
    rss_before_mib: float
    peak_rss_mib: float
    problems: list[str]
    stored_only: bool = False  # zstd and age left out: the stored bytes straight to the writer


def simulate_one(
    input_gb: float,
    hinted: bool = True,
    stored_ratio: float | None = None,
    part_size_mib: int = 8,
    max_in_flight: int = 2,
) -> Simulated:
    """One upload of `input_gb` GB, in this process (peak RSS is this process's); with the
    size hint backup gives (the database's size) or, `hinted=False`, none. `stored_ratio`:
    skip zstd and age and stream input x ratio bytes (what they would store) through the same
    hashing writer, for sizes whose full run takes hours here."""
    client = DiscardingS3Client()
    opts = S3Options(bucket="simulated", part_size=part_size_mib * MIB, max_in_flight=max_in_flight)
    storage = S3Storage(opts, client=cast("S3Client", client))  # the calls MultipartWriter makes
    _identity, recipient = crypto.new_identity()
    plan = UploadPlan(
        storage=storage,
        set_prefix="simulated/",
        compress=stored_ratio is None,
        level=1,
        recipients=crypto.parse_recipients([recipient]) if stored_ratio is None else [],
        encryption=Encryption("x25519", (recipient,)),
        cancel=threading.Event(),
        progress=Progress("simulated", enabled=False),
    )
    source = DumpLikeSource(int(input_gb * GB * (stored_ratio or 1)))
    hint = int(input_gb * GB * DATABASE_OVER_DUMP) if hinted else None
    rss_before = _memory_mib()[1]
    cpu0, start = time.process_time(), time.monotonic()
    # stored bytes only: the writer reads them as its input, so the hint is scaled alike (the
    # ratio it sees is 1; the rest of the hint times it is what zstd and age would store)
    upload_hint = int(hint * stored_ratio) if hint and stored_ratio else hint
    entry = upload(plan, "database", "simulated", "simulated", source, size_hint=upload_hint)
    seconds, cpu = time.monotonic() - start, time.process_time() - cpu0
    check = client.check
    if check.bytes != entry.size:
        check.problems.append(
            f"the endpoint got {check.bytes} bytes, the manifest says {entry.size}"
        )
    return Simulated(
        input_gb=input_gb,
        output_bytes=entry.size,
        parts=check.parts,
        largest_part_mib=round(check.largest / MIB, 1),
        smallest_part_but_last_mib=round(check.smallest_but_last / MIB, 1),
        part_mib_by_thousand=[round(size / MIB, 1) for size in check.sizes_by_thousand],
        size_hint_gb=round(hint / GB, 1) if hint else None,
        seconds=round(seconds, 1),
        cpu_seconds=round(cpu, 1),
        input_mb_per_s=round(input_gb * 1000 / seconds, 1),
        rss_before_mib=rss_before,
        peak_rss_mib=_memory_mib()[0],
        problems=check.problems,
        stored_only=stored_ratio is not None,
    )


def _memory_mib() -> tuple[float, float]:
    """(peak, current) RSS of this process in MiB, as the benchmark reads every process's."""
    memory = read_memory(os.getpid())
    assert memory is not None  # this process is alive
    return round(memory[0] / MIB, 1), round(memory[1] / MIB, 1)


def run_simulation(
    sizes_gb: list[float],
    echo: Callable[[str], None],
    hinted: bool = True,
    stored_ratio: float | None = None,
) -> list[Simulated]:
    """Each size in a fresh process: `python -m pgback.bench.simulate GB [--no-hint]`."""
    results = []
    for size in sizes_gb:
        echo(f"simulating {size:g} GB of dump data through the upload pipeline...")
        done = subprocess.run(
            [sys.executable, "-m", "pgback.bench.simulate", str(size)]
            + ([] if hinted else ["--no-hint"])
            + ([] if stored_ratio is None else [f"--stored-ratio={stored_ratio}"]),
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if done.returncode != 0:
            raise RuntimeError(f"simulation of {size:g} GB failed: {done.stderr.strip()[-500:]}")
        result = Simulated(**json.loads(done.stdout))
        echo(
            f"  {size:g} GB: {result.parts} parts, largest {result.largest_part_mib} MiB, "
            f"peak RSS {result.peak_rss_mib} MiB, {result.seconds} s"
        )
        results.append(result)
    return results


def render_simulation(results: list[Simulated]) -> str:
    lines = [
        "| input | size hint | output (zstd-1 + age) | parts (limit 10,000) | largest part | "
        "RSS before / peak | time | input rate | CPU s | S3's rules |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        hint = f"{r.size_hint_gb:g} GB" if r.size_hint_gb else "none"
        output = f"{r.output_bytes / GB:.1f} GB" + (" (stored bytes only)" if r.stored_only else "")
        lines.append(
            f"| {r.input_gb:g} GB | {hint} | {output} | {r.parts:,} | "
            f"{r.largest_part_mib:g} MiB | {r.rss_before_mib:g} / {r.peak_rss_mib:g} MiB | "
            f"{r.seconds:g} s | "
            f"{r.input_mb_per_s:g} MB/s | {r.cpu_seconds:g} | "
            f"{'; '.join(r.problems) if r.problems else 'kept'} |"
        )
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> None:
    ratio = next((float(a.split("=", 1)[1]) for a in argv if a.startswith("--stored-ratio=")), None)
    result = simulate_one(float(argv[0]), hinted="--no-hint" not in argv, stored_ratio=ratio)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    _main(sys.argv[1:])
