"""Real child processes for tests: logged to a file, waited on until ready, always cleaned up.

    with ManagedProcess(["mosquitto", "-c", conf], name="broker", log_dir=tmp_path,
                        ready_line=r"mosquitto version \\S+ running") as broker:
        ...

Each process leads its own process group, so ``stop()`` and ``kill9()`` reach its children
too (an RTSP camera's ffmpeg feeders, a center's workers). Its stdout and stderr are read
by two threads that append every line to one log file (``log_path``) and keep the lines
for ``wait_for_line``. Errors carry the log's tail, so a failing fixture says why.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal, Self

Stream = Literal["stdout", "stderr", "any"]

_PR_SET_PDEATHSIG = 1
_PR_GET_DUMPABLE = 3
_POLL_S = 0.05
_live: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class ProcessError(RuntimeError):
    """A managed process failed to start, died or did not get ready."""


class ProcessDied(ProcessError):
    """The process exited while we waited for it."""


class ReadyTimeout(ProcessError):
    """The readiness condition did not hold in time."""


# prctl is looked up (and called once) at import: the preexec hook below runs between fork
# and exec in a process with many threads, where a dlopen/dlsym can hit ld.so's lock held by
# a thread that does not exist in the child ("Inconsistency detected by ld.so").
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGKILL it if the test process dies (the
    # thread that started it, strictly: start processes from the main thread).
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


class ManagedProcess:
    """One child process (and its process group) under a test's control.

    Readiness: any of ``ready_line`` (regex searched in each new line of ``ready_stream``),
    ``ready_port`` (TCP port accepting on 127.0.0.1, or a ``(host, port)`` pair) and
    ``ready_url`` (HTTP GET answering 200) may be given; ``start()`` returns once all hold,
    and raises ProcessDied or ReadyTimeout (both with the log tail) otherwise, after
    killing the process. ``start()`` may be called again after ``stop()``: same command,
    same log file (a marker line separates the runs).
    """

    def __init__(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        name: str | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        ready_line: str | re.Pattern[str] | None = None,
        ready_stream: Stream = "stdout",
        ready_port: int | tuple[str, int] | None = None,
        ready_url: str | None = None,
        ready_timeout: float = 30.0,
        stop_signal: int = signal.SIGTERM,
        stop_grace: float = 10.0,
        user: str | int | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.argv = [os.fspath(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="parkguard-"))
        self.log_path = self.log_dir / f"{_safe(self.name)}.log"
        base = dict(os.environ if env is None else env)
        base.setdefault("PYTHONUNBUFFERED", "1")
        base.update(extra_env or {})
        self.env = base
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.ready_line = re.compile(ready_line) if isinstance(ready_line, str) else ready_line
        self.ready_stream: Stream = ready_stream
        self.ready_port = ("127.0.0.1", ready_port) if isinstance(ready_port, int) else ready_port
        self.ready_url = ready_url
        self.ready_timeout = ready_timeout
        self.stop_signal = stop_signal
        self.stop_grace = stop_grace
        self.user = user
        self.die_with_parent = die_with_parent

        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None
        self.ready_match: re.Match[str] | None = None
        self.starts = 0
        self._lines: list[tuple[str, str]] = []  # (stream, line) of the current run
        self._cond = threading.Condition()
        self._log: IO[str] | None = None
        self._readers: list[threading.Thread] = []

    # -- state -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def lines(self, stream: Stream = "any") -> list[str]:
        """Output lines of the current (or last) run so far."""
        with self._cond:
            return [line for s, line in self._lines if stream in ("any", s)]

    def log_tail(self, n: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-n:])

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}, `{' '.join(self.argv)}`)"

    # -- start -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self.is_running():
            raise ProcessError(f"{self.describe()} is already running")
        self._close_log()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._log = open(self.log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._log.write(f"=== start #{self.starts} at {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n")
        self._log.flush()
        with self._cond:
            self._lines = []
        self.ready_match = None
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
                **self._identity(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self._close_log()
            raise ProcessError(f"cannot start {self.name}: {exc}") from exc
        self.pgid = self.proc.pid  # start_new_session: the child leads its group
        _live.add(self)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            self.wait_ready()
        except ProcessError:
            self.kill9()
            raise
        return self

    def _identity(self) -> dict[str, object]:
        """Popen arguments that run the child as ``self.user`` (with that user's group only)."""
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user) if isinstance(self.user, str) else pwd.getpwuid(self.user)
        if entry.pw_uid == os.geteuid():
            return {}
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        log = self._log
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._cond:
                self._lines.append((stream, line))
                if log is not None and not log.closed:
                    log.write(line + "\n" if stream == "stdout" else f"[stderr] {line}\n")
                    log.flush()
                self._cond.notify_all()
        pipe.close()
        with self._cond:
            self._cond.notify_all()

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        line_ok = self.ready_line is None
        port_ok = self.ready_port is None
        url_ok = self.ready_url is None
        while True:
            if not line_ok:
                assert self.ready_line is not None
                match = self._search(self.ready_line, self.ready_stream, 0)
                if match is not None:
                    self.ready_match, line_ok = match, True
            if not port_ok:
                assert self.ready_port is not None
                port_ok = port_open(*self.ready_port)
            if not url_ok:
                assert self.ready_url is not None
                url_ok = http_ok(self.ready_url)
            if line_ok and port_ok and url_ok:
                return
            if not self.is_running():
                self._drain()
                raise ProcessDied(
                    f"{self.describe()} exited with status {self.returncode} before it was ready "
                    f"({self._pending(line_ok, port_ok, url_ok)}); log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise ReadyTimeout(
                    f"{self.describe()} not ready after {timeout:.0f} s "
                    f"({self._pending(line_ok, port_ok, url_ok)}); log {self.log_path}:\n{self.log_tail()}"
                )
            with self._cond:
                self._cond.wait(_POLL_S)

    def _pending(self, line_ok: bool, port_ok: bool, url_ok: bool) -> str:
        waiting = []
        if not line_ok and self.ready_line is not None:
            waiting.append(f"no {self.ready_stream} line matching {self.ready_line.pattern!r}")
        if not port_ok:
            waiting.append(f"port {self.ready_port} not accepting")
        if not url_ok:
            waiting.append(f"{self.ready_url} not answering 200")
        return "; ".join(waiting) or "ready"

    def _search(self, pattern: re.Pattern[str], stream: Stream, start: int) -> re.Match[str] | None:
        with self._cond:
            for s, line in self._lines[start:]:
                if stream in ("any", s) and (match := pattern.search(line)):
                    return match
        return None

    def wait_for_line(
        self, pattern: str | re.Pattern[str], *, stream: Stream = "any", timeout: float = 30.0, since: int = 0
    ) -> re.Match[str]:
        """Wait for an output line matching ``pattern`` (counting lines from index ``since``).

        ``since=proc.line_count()`` taken before an action waits for a line caused by it.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            match = self._search(regex, stream, since)
            if match is not None:
                return match
            if not self.is_running():
                self._drain()
                if (match := self._search(regex, stream, since)) is not None:
                    return match
                raise ProcessDied(
                    f"{self.describe()} exited with status {self.returncode} without a line matching "
                    f"{regex.pattern!r}; log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise ReadyTimeout(
                    f"no line matching {regex.pattern!r} from {self.describe()} in {timeout:.0f} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            with self._cond:
                self._cond.wait(_POLL_S)

    def line_count(self) -> int:
        with self._cond:
            return len(self._lines)

    def _drain(self, timeout: float = 2.0) -> None:
        """Let the reader threads copy the last output of an exited process."""
        for reader in self._readers:
            reader.join(timeout)

    # -- stop --------------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to exit by itself; its status."""
        assert self.proc is not None, "never started"
        code = self.proc.wait(timeout)
        self._drain()
        return code

    def _signal_group(self, sig: int) -> bool:
        if self.pgid is None:
            return False
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            # A child that changed user (postgres): signal the leader directly.
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(sig)
        return True

    def _group_alive(self) -> bool:
        """True while a live (not zombie) process of the group remains."""
        if self.pgid is None:
            return False
        try:
            stats = list(Path("/proc").glob("[0-9]*/stat"))
        except OSError:
            stats = []
        if not stats:  # no /proc: ask the kernel, zombies included
            try:
                os.killpg(self.pgid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        for stat in stats:
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields: state, ppid, pgrp, ...; orphaned zombies may wait long for their reaper
            if int(fields[2]) == self.pgid and fields[0] not in ("Z", "X"):
                return True
        return False

    def stop(self, grace: float | None = None) -> int | None:
        """Send the stop signal to the group, SIGKILL what is left after ``grace`` seconds.

        Returns the exit status of the main process (None if it never started).
        """
        if self.proc is None:
            return None
        grace = self.stop_grace if grace is None else grace
        if self.proc.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
        # Children that outlived their leader (or ignored the signal) get SIGKILL.
        deadline = time.monotonic() + min(grace, 2.0)
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        if self._group_alive():
            self._signal_group(signal.SIGKILL)
        self._finish()
        return self.proc.returncode

    def kill9(self) -> int | None:
        """SIGKILL the whole group at once (a crash, a power cut)."""
        if self.proc is None:
            return None
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self._finish()
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the main process only."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def _finish(self) -> None:
        self._drain()
        if self._log is not None and not self._log.closed:
            with self._cond:
                self._log.write(f"=== exit status {self.returncode}\n")
        self._close_log()
        _live.discard(self)

    def _close_log(self) -> None:
        with self._cond:
            if self._log is not None and not self._log.closed:
                self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode}"
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "process"


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.kill9()
