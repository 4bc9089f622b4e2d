"""Plain connection strings read without psycopg: the same reading as libpq's, or none."""

from __future__ import annotations

import pytest
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgback.adapters import postgres
from pgback.adapters.conninfo import PLAIN_KEYWORDS, dbname_arg, split_plain
from pgback.adapters.postgres import ConnParams
from pgback.errors import UsageError

PLAIN = [
    "",
    "host=db2",
    "host=127.0.0.1 port=5433 user=postgres dbname=postgres",
    "  host=db2\tuser=u\n",
    "host=a port=1 host=b",  # the last one wins, as in libpq
    "host=/var/run/postgresql user=app",
    "host=db,db2 port=5432,5433 sslmode=require connect_timeout=3",
    "dbname=my-db.2 password=s3cr#t!",
    "host=a=b",
]
NOT_PLAIN = [
    "host='my host'",
    "host=a\\ b",
    "dbname=''",
    "host=",
    "host = db2",
    "postgresql://u@db2:5433/app",
    "postgres://db2",
    "hostaddr=127.0.0.1",
    "target_session_attrs=read-write host=a",
    "options=-cwork_mem=1MB",
    "HOST=db2",
    "dbname=café",
    "host=a\u00a0user=b",  # a no-break space is not a separator for libpq
    "nonsense",
    "host=a nonsense",
]


def test_conninfo_plain_keywords_are_known_to_libpq() -> None:
    known = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    assert known >= PLAIN_KEYWORDS


@pytest.mark.parametrize("conninfo", PLAIN)
def test_conninfo_plain_strings_read_as_libpq_reads_them(conninfo: str) -> None:
    assert split_plain(conninfo) == conninfo_to_dict(conninfo)


@pytest.mark.parametrize("conninfo", NOT_PLAIN)
def test_conninfo_anything_else_is_left_to_libpq(conninfo: str) -> None:
    assert split_plain(conninfo) is None


def _outcome(conninfo: str) -> object:
    try:
        return ConnParams.from_conninfo(conninfo)
    except UsageError as exc:
        return str(exc)


@pytest.mark.parametrize("conninfo", PLAIN)
def test_conninfo_target_is_the_same_without_the_fast_path(
    conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _outcome(conninfo)
    monkeypatch.setattr(postgres, "split_plain", lambda _: None)  # libpq's parser only
    assert fast == _outcome(conninfo)


@pytest.mark.parametrize(
    "name",
    ["postgres", "bench", "my-db.2", "A_b", "my db", "it's", "back\\slash", "café", "", "x=y"],
)
def test_conninfo_dbname_arg_is_what_make_conninfo_writes(name: str) -> None:
    assert dbname_arg(name) == make_conninfo(dbname=name)
