"""The cyclic garbage collector during a command's start-up.

Importing psycopg and botocore and building botocore's S3 model allocate about 110,000
objects, none of them garbage worth finding: each of the collections they trigger walks them
all again. `pgback` (the console script, pgback.main) pauses the collector before it imports
anything; once the command's start-up is over, `started()` moves what exists to the permanent
generation (gc.freeze: later collections skip it) and the collector runs again. A command
started in-process (the tests) is never paused, so nothing is frozen in its process.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def started() -> None:
    """The start-up is over: collections resume, and skip what the start-up made."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
