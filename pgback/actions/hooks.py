"""The sidecar's pre- and post-backup hooks: argv lists run through pgback.process (no shell),
with our secrets removed from their environment, cancellable like the backup itself."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence

from pgback.errors import Interrupted
from pgback.process import Child, child_env

_HOOK_POLL = 0.2  # seconds between checks of the cancel event while a hook runs


def run_hook(
    argv: Sequence[str],
    *,
    what: str,
    cancel: threading.Event,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run one hook to completion; ProcessError when it fails, Interrupted when cancelled.

    The hook's standard output goes to ours (the container log); its standard error tail is
    attached to the error when it fails.
    """
    child = Child(list(argv), env=child_env(dict(env or {})), stdout=None)
    while True:
        try:
            code = child.wait(timeout=_HOOK_POLL)
            break
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                child.kill()
                raise Interrupted(f"{what} cancelled") from None
    if code != 0:
        raise child.error(what)
