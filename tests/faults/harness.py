"""Fault-injection helpers: a `pgback` command watched through /proc, an S3 proxy that fails on
purpose, and the checks every fault test makes.

- `Canaries`: distinctive secret values (PostgreSQL password, S3 key and secret, age identity,
  passphrase) that must never show up in output, logs, or the argv/environment of a child.
- `WatchedRun`: `python -m pgback ...` as a child process; a sampler thread walks /proc while it
  runs and records the argv and environment of every program it spawns (pg_dump, psql...).
- `FaultyS3`: an HTTP proxy in front of moto whose rules answer chosen requests with an error
  status, drop the connection, or delay them.
- `assert_failed_cleanly`, `assert_no_secrets`, `Bucket`: the assertions shared by the cases.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pgback.testbed import S3Server

ERROR_PREFIX = "pgback: error: "
CHILD_PROGRAMS = ("pg_dump", "pg_dumpall", "psql", "pg_restore")


# --- secrets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canaries:
    """Secret values no output may contain; each holds a random, greppable core."""

    pg_password: str
    s3_key_id: str
    s3_secret: str
    age_identity: str
    age_recipient: str  # public: allowed anywhere
    passphrase: str
    target_password: str
    wrong_identity: str  # a valid identity that opens nothing of ours
    wrong_passphrase: str

    @classmethod
    def make(cls) -> Canaries:
        import pyrage

        identity = pyrage.x25519.Identity.generate()
        token = secrets.token_hex
        return cls(
            # a quote and a space: secrets with shell-significant characters must still work
            pg_password=f"pg pw'{token(8)}-CANARY",
            s3_key_id=f"AKIACANARY{token(5).upper()}",
            s3_secret=f"s3secret/{token(12)}+CANARY",
            age_identity=str(identity),
            age_recipient=str(identity.to_public()),
            passphrase=f"pass phrase {token(8)} CANARY",
            target_password=f"target-pw-{token(8)}-CANARY",
            wrong_identity=str(pyrage.x25519.Identity.generate()),
            wrong_passphrase=f"not the pass phrase {token(8)}",
        )

    def secret_values(self) -> dict[str, str]:
        return {
            "PostgreSQL password": self.pg_password,
            "S3 access key id": self.s3_key_id,
            "S3 secret key": self.s3_secret,
            "age identity": self.age_identity,
            "passphrase": self.passphrase,
            "target password": self.target_password,
            "wrong age identity": self.wrong_identity,
            "wrong passphrase": self.wrong_passphrase,
        }

    def fragments(self) -> list[tuple[str, str]]:
        """(what, text): each whole secret and a 12-character piece from its middle, so a
        truncated or partly masked echo is caught too."""
        found = []
        for what, value in self.secret_values().items():
            found.append((what, value))
            middle = len(value) // 2
            found.append((f"{what} (fragment)", value[middle - 6 : middle + 6]))
        return found


def find_secrets(text: str, canaries: Canaries) -> list[str]:
    return [what for what, fragment in canaries.fragments() if fragment in text]


# --- a pgback process watched through /proc ---------------------------------------------------


@dataclass(frozen=True)
class ChildSeen:
    """One program spawned (directly or not) by the watched pgback process, after its exec."""

    pid: int
    name: str
    argv: tuple[str, ...]
    environ: dict[str, str]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    children: list[ChildSeen]
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def error(self) -> str:
        lines = self.error_lines
        return lines[0][len(ERROR_PREFIX) :] if lines else ""

    def programs(self) -> set[str]:
        return {child.name for child in self.children}

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.1f}s\n--- stdout\n{self.stdout}"
            f"--- stderr\n{self.stderr}--- children: {sorted(self.programs())}"
        )


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _process_table(newer_than: int) -> dict[int, int]:
    """pid -> parent pid of the processes started after `newer_than` (pids grow; a wrap-around
    during one test is not a concern), so that a sweep stays fast enough to catch psql."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) <= newer_than:
            continue
        try:
            stat = _read(f"/proc/{entry.name}/stat")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _descendants(root: int, parents: Mapping[int, int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class WatchedRun:
    """`python -m pgback ARGS` with exactly `env`; its descendants sampled from /proc.

    A forked child is recorded once it has exec'd (its executable is no longer the Python
    interpreter): before that, /proc shows the parent's argv and environment.
    """

    def __init__(self, env: Mapping[str, str], *args: str, wrapper: tuple[str, ...] = ()) -> None:
        """`wrapper`: a command that runs pgback's (e.g. `unshare --pid --fork`)."""
        self.args = args
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "pgback", *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._children: dict[int, ChildSeen] = {}
        self._python = os.path.realpath(sys.executable)
        self._done = threading.Event()
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self._stdout)),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self._stderr)),
            threading.Thread(target=self._sample),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def _sample(self) -> None:
        while True:
            finished = self.proc.poll() is not None
            with contextlib.suppress(OSError, ValueError):
                self._sweep()
            if finished or self._done.is_set():
                return
            time.sleep(0.003)  # a sweep costs ~0.2 ms of CPU; psql lives ~50 ms

    def _sweep(self) -> None:
        for pid in _descendants(self.proc.pid, _process_table(self.proc.pid)):
            if pid in self._children:
                continue
            try:
                exe = os.path.realpath(os.readlink(f"/proc/{pid}/exe"))
                if exe == self._python:
                    continue  # forked, not yet exec'd
                argv = _read(f"/proc/{pid}/cmdline").split(b"\0")
                environ = _read(f"/proc/{pid}/environ").split(b"\0")
            except OSError:
                continue  # gone, or a zombie
            text = [part.decode("utf-8", "replace") for part in argv if part]
            if not text:
                continue
            env = dict(
                item.decode("utf-8", "replace").partition("=")[::2] for item in environ if item
            )
            self._children[pid] = ChildSeen(pid, Path(text[0]).name, tuple(text), env)

    # --- while it runs -----------------------------------------------------------------------

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.proc.kill()
        raise AssertionError(f"{what}: not seen; {self.finish().describe()}")

    def wait_for_child(self, name: str, *, argv_has: str = "", timeout: float = 30) -> ChildSeen:
        def match() -> ChildSeen | None:
            for child in list(self._children.values()):
                if child.name == name and argv_has in " ".join(child.argv):
                    return child
            return None

        self.wait_until(lambda: match() is not None, f"child {name} {argv_has}", timeout)
        found = match()
        assert found is not None
        return found

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        self.wait_until(lambda: any(text in line for line in self._stderr), text, timeout)

    def send_signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> Outcome:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._done.set()
        for thread in self._threads:
            thread.join(10)
        return Outcome(
            self.proc.returncode,
            "".join(self._stdout),
            "".join(self._stderr),
            list(self._children.values()),
            time.monotonic() - self.started,
        )


def run_pgback(env: Mapping[str, str], *args: str, timeout: float = 120) -> Outcome:
    return WatchedRun(env, *args).finish(timeout)


# --- assertions --------------------------------------------------------------------------------


def assert_no_secrets(outcome: Outcome, canaries: Canaries, *extra_texts: str) -> None:
    """Neither the output nor any child's argv holds a secret; a child's environment holds at
    most its own PostgreSQL password, in PGPASSWORD."""
    for name, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        leaked = find_secrets(text, canaries)
        assert not leaked, f"{', '.join(leaked)} in {name}:\n{outcome.describe()}"
    for index, text in enumerate(extra_texts):
        leaked = find_secrets(text, canaries)
        assert not leaked, f"{', '.join(leaked)} in extra text #{index}: {text[:2000]}"
    pg_passwords = {canaries.pg_password, canaries.target_password}
    for child in outcome.children:
        leaked = find_secrets("\0".join(child.argv), canaries)
        assert not leaked, f"{', '.join(leaked)} in the argv of {child.name}: {child.argv}"
        if child.name not in CHILD_PROGRAMS and child.name != "sh":
            # croniter's import runs `file -b <python>` (platform.architecture) with the
            # whole environment: no program of pgback's, and no reader the parent's own
            # /proc/<pid>/environ does not already have
            continue
        env = dict(child.environ)
        password = env.pop("PGPASSWORD", None)
        assert password is None or password in pg_passwords, f"odd PGPASSWORD in {child.name}"
        leaked = find_secrets("\0".join(f"{k}={v}" for k, v in env.items()), canaries)
        assert not leaked, f"{', '.join(leaked)} in the environment of {child.name}"
        assert not [k for k in env if k.startswith(("PGBACK_", "AWS_"))], child.name


def assert_failed_cleanly(
    outcome: Outcome, exit_code: int, *phrases: str, canaries: Canaries
) -> str:
    """The exit code; one `pgback: error:` line, holding every phrase (case-insensitive); no
    traceback; no secret anywhere. Returns the message."""
    assert outcome.returncode == exit_code, outcome.describe()
    assert len(outcome.error_lines) == 1, outcome.describe()
    message = outcome.error
    for phrase in phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in {message!r}"
    assert "Traceback" not in outcome.stderr, outcome.describe()
    assert_no_secrets(outcome, canaries)
    return message


@dataclass
class Bucket:
    """One test's bucket as the fault tests look at it."""

    s3: S3Server
    name: str
    prefix: str = "backups"

    def objects(self) -> dict[str, tuple[int, str]]:
        """key -> (size, etag) of every object."""
        client = self.s3.client()
        found: dict[str, tuple[int, str]] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            for item in page.get("Contents", []):
                found[item["Key"]] = (item["Size"], item["ETag"])
        return found

    def _set_keys(self) -> list[tuple[str, str]]:
        """(set id, file name) of every object directly inside one of our set folders."""
        found = []
        for key in self.objects():
            match = re.fullmatch(re.escape(self.prefix) + r"/(\d{8}T\d{6}Z)/([^/]+)", key)
            if match is None:
                continue
            with contextlib.suppress(ValueError):  # shaped like a set id, but no such date
                datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
                found.append((match.group(1), match.group(2)))
        return found

    def set_ids_with_manifest(self) -> set[str]:
        return {set_id for set_id, name in self._set_keys() if name == "manifest.json"}

    def set_ids(self) -> set[str]:
        return {set_id for set_id, _ in self._set_keys()}

    def uploads(self) -> list[str]:
        found = self.s3.client().list_multipart_uploads(Bucket=self.name)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    def manifest_text(self, set_id: str) -> str:
        body = self.s3.client().get_object(
            Bucket=self.name, Key=f"{self.prefix}/{set_id}/manifest.json"
        )["Body"]
        return str(body.read().decode())

    def snapshot(self, set_id: str) -> dict[str, tuple[int, str]]:
        return {k: v for k, v in self.objects().items() if k.startswith(f"{self.prefix}/{set_id}/")}

    def all_text(self) -> str:
        """Keys and manifests: what a leak into the bucket would look like."""
        keys = list(self.objects())
        manifests = [self.manifest_text(s) for s in self.set_ids_with_manifest()]
        return "\n".join(keys + manifests)


def assert_only_good_sets(
    bucket: Bucket, good: Mapping[str, Mapping[str, tuple[int, str]]]
) -> None:
    """The sets with a manifest are exactly the good ones, and those are byte-for-byte intact."""
    assert bucket.set_ids_with_manifest() == set(good), bucket.objects()
    for set_id, objects in good.items():
        assert bucket.snapshot(set_id) == objects, f"good set {set_id} changed"


# --- an S3 endpoint that fails on purpose -----------------------------------------------------


@dataclass
class Rule:
    """Requests matching `method` and `pattern` (a regex searched in the path and query) get
    `action`: 'status' (an S3 error answer), 'drop' (the connection closes, no answer) or
    'delay' (forwarded after `seconds`, or once `gate` is set if there is one, `seconds` at
    most); `times` matches at most (None: always)."""

    method: str | None
    pattern: str
    action: str
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 0.0
    gate: threading.Event | None = None
    times: int | None = None
    hits: int = 0


@dataclass
class FaultyS3:
    """An HTTP proxy on loopback in front of an S3 server, with fault rules."""

    upstream: S3Server
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, outcome
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FaultyS3:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        for rule in self.rules:
            if rule.gate is not None:
                rule.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, method: str | None, pattern: str, action: str, **kw: Any) -> Rule:
        rule = Rule(method, pattern, action, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def decide(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method not in (None, method) or not re.search(rule.pattern, path):
                    continue
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                rule.hits += 1
                self.log.append((method, path, rule.action))
                return rule
            self.log.append((method, path, "forwarded"))
            return None

    def count(self, method: str, pattern: str) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.log if m == method and re.search(pattern, p))


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultyS3
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = self.owner.decide(self.command, self.path)
        if rule is not None and rule.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if rule is not None and rule.action == "status":
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{rule.code}</Code>'
                f"<Message>injected by the fault proxy</Message></Error>"
            ).encode()
            self.send_response(rule.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if rule is not None and rule.action == "delay":
            if rule.gate is not None:
                rule.gate.wait(rule.seconds)
            else:
                time.sleep(rule.seconds)
        self._forward(body)

    def _forward(self, body: bytes) -> None:
        if self._upstream is None:
            up = self.owner.upstream
            self._upstream = http.client.HTTPConnection(up.host, up.port, timeout=60)
        conn = self._upstream
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


@contextlib.contextmanager
def faulty_s3(upstream: S3Server) -> Iterator[FaultyS3]:
    proxy = FaultyS3(upstream).start()
    try:
        yield proxy
    finally:
        proxy.close()
