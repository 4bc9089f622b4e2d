"""`serve`'s restore drills: on `drill_cron`, run `pgback drill FILE` as a child process.

A child, not a call: the drill belongs to the scenario harness (the `drill` extra), which the
engine never imports, and a drill that crashes cannot take the sidecar with it. It runs beside
the backup schedule, in its own thread; the drill itself records its outcome (drill.json) and
posts the webhook. Stopping the sidecar stops a running drill (SIGTERM), which removes its
scratch server.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from pgback.config import Settings
from pgback.process import Child
from pgback.schedule import next_fire, seconds_until

log = logging.getLogger("pgback.serve")

Clock = Callable[[], datetime]
Wait = Callable[[float], bool]
MAX_WAIT_CHUNK = 60.0  # re-read the clock at least once a minute (NTP steps, suspended VMs)
STOP_TIMEOUT = 30.0  # a stopped drill's time to remove its scratch server


class DrillLoop:
    def __init__(self, settings: Settings, *, clock: Clock, wait: Wait, stop: threading.Event):
        assert settings.drill_cron and settings.drill_file
        self.settings = settings
        self.cron = settings.drill_cron
        self.clock = clock
        self.wait = wait
        self.stop = stop
        self.runs = 0

    def run(self, max_runs: int | None = None) -> None:
        """Until stopped (or `max_runs` drills)."""
        log.info("restore drills: %s on cron %r", self.settings.drill_file, self.cron)
        while not self.stop.is_set() and (max_runs is None or self.runs < max_runs):
            fire = next_fire(self.cron, self.clock(), self.settings.cron_timezone)
            if self._wait_until(fire):
                return
            self.run_once()

    def _wait_until(self, fire: datetime) -> bool:
        while True:
            remaining = seconds_until(fire, self.clock())
            if remaining <= 0:
                return False
            if self.wait(min(remaining, MAX_WAIT_CHUNK)) or self.stop.is_set():
                return True

    def run_once(self) -> int:
        """One drill; its exit code (0 passed, 1 failed, 2 unusable, negative: a signal)."""
        self.runs += 1
        drill_file = str(self.settings.drill_file)
        argv = [sys.executable, "-m", "pgback", "drill", drill_file]
        log.info("restore drill %s started", drill_file)
        # our own program: it reads the same settings (secrets included) as this process
        child = Child(argv, env=dict(os.environ), stdout=subprocess.DEVNULL)
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self.stop.is_set():
                    child.proc.terminate()
                    try:
                        code = child.wait(timeout=STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        code = child.wait()
                    break
        if code == 0:
            log.info("restore drill %s passed", drill_file)
        else:
            log.error(
                "restore drill %s failed (exit %s): %s", drill_file, code, child.stderr_tail()
            )
        return code


def start_drills(settings: Settings, *, clock: Clock, stop: threading.Event) -> threading.Thread:
    loop = DrillLoop(settings, clock=clock, wait=stop.wait, stop=stop)
    thread = threading.Thread(target=loop.run, name="pgback-drills", daemon=True)
    thread.start()
    return thread
