"""One child process whose output goes to a log file, and that we can stop for sure."""

from __future__ import annotations

import datetime as dt
import functools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from fundledger_devstack.errors import DevstackError


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file (empty when there is none)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` now (Linux, from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            # The field after the command name, which may hold spaces and parentheses.
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def _die_with_us(argv: Sequence[str]) -> list[str]:
    """Prefix argv so the child gets SIGKILL if this process dies without stopping it.

    Without this, a `make run` killed with SIGKILL (or a crashed runner) leaves NATS,
    SeaweedFS and the services listening on their ports, and the next `make run` refuses
    to start. `setpriv --pdeathsig` sets the Linux parent-death signal and then execs the
    real program (same pid), so nothing stays in between.

    The kernel sends that signal when the *thread* that forked the child exits, not the
    process. Only the main thread lives as long as the process, so children started from
    any other thread (e.g. `asyncio.to_thread` in a test) are left without it.
    """
    setpriv = _setpriv_with_pdeathsig()
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


@functools.cache
def _setpriv_with_pdeathsig() -> str | None:
    """util-linux setpriv, if it is there and new enough (2.33+) to know --pdeathsig."""
    setpriv = shutil.which("setpriv")
    if sys.platform != "linux" or setpriv is None:
        return None
    try:
        usage = subprocess.run([setpriv, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return setpriv if "--pdeathsig" in usage.stdout else None


class ManagedProcess:
    """A long-running child (nats-server, weed, a service) logging to `log_path`.

    The child runs in its own session: Ctrl+C in the terminal reaches only the runner,
    which then stops everything in order (services before the servers they use) instead
    of every process receiving SIGINT at the same instant.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Appending keeps the history of restarts (fault tests restart NATS); the header
        # line makes each run easy to find.
        with self.log_path.open("ab") as log:
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} starting {self.name}: {shlex.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    _die_with_us(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DevstackError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc

    def check_alive(self) -> None:
        """Raise (with the log tail) if the process has exited."""
        code = self.returncode
        if self._proc is not None and code is not None:
            raise DevstackError(
                f"{self.name} exited with code {code}; last lines of {self.log_path}:\n"
                f"{self.tail()}"
            )

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout` seconds for a graceful exit, then SIGKILL."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL and reap: no shutdown work at all (fault tests simulate a crash)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()
