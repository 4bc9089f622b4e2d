"""The benchmark database: one table of mixed integer/text/timestamp columns plus three indexes.

About 200 bytes per row with its indexes (2 GB is about 10 M rows). Some columns repeat (kind,
amount, the payload's words), some do not (md5 text), so it compresses roughly as real data
does (zstd-1 and gzip both to about a quarter). Generated server-side with generate_series in
the transaction that creates the table: with wal_level=minimal that writes no WAL. A calibration
sample sizes the row count; VACUUM (FREEZE, ANALYZE) and a CHECKPOINT afterwards leave no hint
bits to set and no dirty pages, so the first dump measured does no writes of its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from psycopg import sql

from pgback.testbed import PostgresServer

DBNAME = "bench"
TABLE = "bench_rows"
CALIBRATION_ROWS = 500_000
MIN_ROWS = 1_000

_CREATE = """
CREATE TABLE {table} (
    id bigint NOT NULL,
    account_id integer NOT NULL,
    kind text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    reference text NOT NULL,
    payload text NOT NULL
)
"""
_FILL = """
INSERT INTO {table}
SELECT i,
       (i * 7919) %% 100000,
       (ARRAY['deposit', 'withdrawal', 'transfer', 'fee', 'refund'])[1 + i %% 5],
       ((i * 37) %% 1000000) / 100.0,
       timestamptz '2020-01-01 00:00:00+00' + i * interval '3 seconds',
       md5(i::text),
       'customer ' || (i %% 5000) || ' order ' || i || ' status '
           || (ARRAY['new', 'paid', 'shipped', 'delivered'])[1 + (i / 7) %% 4]
FROM generate_series(1::bigint, %s::bigint) AS i
"""
_INDEXES = (
    "ALTER TABLE {table} ADD PRIMARY KEY (id)",
    "CREATE INDEX ON {table} (account_id)",
    "CREATE INDEX ON {table} (created_at)",
)


@dataclass
class Dataset:
    dbname: str
    rows: int
    bytes_per_row: float
    table_bytes: int  # heap + TOAST + indexes
    database_bytes: int  # pg_database_size
    seconds: float


def create_dataset(server: PostgresServer, size_bytes: int, dbname: str = DBNAME) -> Dataset:
    """(Re)create `dbname` on `server` with about `size_bytes` of table and indexes."""
    started = time.perf_counter()
    ident = sql.Identifier(dbname)
    server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
    server.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    per_row = _calibrate(server, dbname, _sample_rows(size_bytes))
    rows = max(MIN_ROWS, math.ceil(size_bytes / per_row))
    _build(server, dbname, TABLE, rows)
    server.execute(
        sql.SQL("VACUUM (FREEZE, ANALYZE) {}").format(sql.Identifier(TABLE)), dbname=dbname
    )
    server.execute("CHECKPOINT")
    table_bytes = _scalar(server, dbname, f"SELECT pg_total_relation_size('{TABLE}')")
    database_bytes = _scalar(server, dbname, "SELECT pg_database_size(current_database())")
    return Dataset(
        dbname=dbname,
        rows=rows,
        bytes_per_row=round(per_row, 1),
        table_bytes=table_bytes,
        database_bytes=database_bytes,
        seconds=time.perf_counter() - started,
    )


def _sample_rows(size_bytes: int) -> int:
    """A quarter of the expected rows, within bounds: big enough to size indexes right."""
    return min(CALIBRATION_ROWS, max(MIN_ROWS * 10, size_bytes // 200 // 4))


def _calibrate(server: PostgresServer, dbname: str, rows: int) -> float:
    """Bytes per row, table and indexes included, from a sample built the same way."""
    sample = "bench_calibration"
    _build(server, dbname, sample, rows)
    size = _scalar(server, dbname, f"SELECT pg_total_relation_size('{sample}')")
    server.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(sample)), dbname=dbname)
    return size / rows


def _build(server: PostgresServer, dbname: str, table: str, rows: int) -> None:
    ident = sql.Identifier(table)
    with server.connect(dbname, autocommit=False) as conn:
        # one transaction: under wal_level=minimal the new table's rows are not WAL-logged
        conn.execute(sql.SQL(_CREATE).format(table=ident))
        conn.execute(sql.SQL(_FILL).format(table=ident), (rows,))
        conn.commit()
    for statement in _INDEXES:
        server.execute(sql.SQL(statement).format(table=ident), dbname=dbname)


def _scalar(server: PostgresServer, dbname: str, query: str) -> int:
    rows = server.query(query, dbname=dbname)
    return int(rows[0][0])


def row_count(server: PostgresServer, dbname: str = DBNAME) -> int:
    return _scalar(server, dbname, f"SELECT count(*) FROM {TABLE}")


def drop_database(server: PostgresServer, dbname: str = DBNAME) -> None:
    server.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
    )
    server.execute("CHECKPOINT")
