"""Throwaway child processes, each in its own process group, stopped as a whole.

::

    procs = ProcessRegistry(run_dir)
    redis = procs.start("redis", ["redis-server", "--port", "6399"])
    ...
    procs.kill("redis")        # SIGKILL to the whole group (a crash)
    procs.stop_all()           # SIGTERM, then SIGKILL, to every group still alive

:meth:`ProcessRegistry.stop_all` stops the trees all at once, those started with ``stop_last``
(the database and the broker the others use) after the rest.

A process belongs to a run when its environment carries ``DEPLOY_RUN_MARKER_VAR=<marker>`` (every
child gets it, descendants inherit it) or when its working directory lies in one of the run's
directories (processes that rename themselves, such as PostgreSQL, Celery and uvicorn, overwrite
the memory their environment is read from). :func:`processes_of_run` finds anything a run left
behind that way, whatever process group or session it moved to.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

DEPLOY_RUN_MARKER_VAR = "MAILGUN_DEPLOY_RUN"
STOP_GRACE_SECONDS = 15.0
PORTS_FROM = 20000


class HarnessError(RuntimeError):
    """A deployment part did not come up or behave; the message carries the log tail."""


def free_port() -> int:
    """A port free on 127.0.0.1, below the kernel's ephemeral range.

    A port handed out by ``bind(0)`` comes from the ephemeral range, where any outgoing connection
    (a worker to Redis, a client to PostgreSQL) may take it as its local port before the server
    that was meant to listen on it has started ("address already in use").
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(PORTS_FROM, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise HarnessError(f"no free port found between {PORTS_FROM} and {low}")


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, PORTS_FROM + 1000)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Poll ``check`` until it is true; :class:`HarnessError` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)
    #: The signal that asks it to stop (PostgreSQL: SIGQUIT, its immediate shutdown).
    stop_signal: int = signal.SIGTERM
    #: Stopped after the others (a server they use).
    stop_last: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[psutil.Process]:
        """The leader, its descendants (Airflow puts each task runner in a group of its own) and
        whatever else is still in the leader's process group."""
        found: dict[int, psutil.Process] = {}
        try:
            leader = psutil.Process(self.pid)
            found[leader.pid] = leader
            found.update((p.pid, p) for p in leader.children(recursive=True))
        except psutil.Error:
            pass
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pid:
                    found[proc.pid] = proc
            except (ProcessLookupError, psutil.Error):
                continue
        return [p for p in found.values() if _running(p)]


class ProcessRegistry:
    """Starts named children in their own sessions; :meth:`stop_all` also runs at interpreter exit."""

    def __init__(self, run_dir: Path, marker: str) -> None:
        self.run_dir = run_dir
        self.marker = marker
        #: Directories whose processes belong to this run (a child's working directory is added).
        self.roots: list[Path] = [run_dir]
        self.children: dict[str, Child] = {}
        self.started_count = 0
        #: Processes the last-resort sweep of :meth:`stop_all` had to kill (escaped their tree).
        self.strays_swept = 0
        atexit.register(self.stop_all)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        *,
        stop_signal: int = signal.SIGTERM,
        stop_last: bool = False,
    ) -> Child:
        if name in self.children and self.children[name].alive():
            raise HarnessError(f"{name} is already running")
        log = self.run_dir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        child_env = {**(env if env is not None else os.environ), DEPLOY_RUN_MARKER_VAR: self.marker}
        if cwd is not None and cwd not in self.roots:
            self.roots.append(cwd)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                env=child_env,
                cwd=cwd or self.run_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped as a whole, deaf to the terminal's ^C
            )
        child = Child(name, popen, log, stop_signal=stop_signal, stop_last=stop_last)
        self.children[name] = child
        self.started_count += 1
        return child

    def kill(self, name: str) -> None:
        """SIGKILL the whole tree at once, as a dying machine would; no clean-up code runs."""
        child = self.children[name]
        procs = child.tree()
        _send(procs, signal.SIGSTOP)  # frozen first, so no one reacts to a sibling's death
        _send(procs, signal.SIGKILL)
        psutil.wait_procs(procs, timeout=30)
        child.popen.wait(timeout=30)
        del self.children[name]

    def stop(self, name: str, sig: int | None = None) -> None:
        """``sig`` (default: its stop signal) to the tree, SIGKILL to what is left after the grace."""
        self._stop_together([name], sig)

    def _stop_together(self, names: Sequence[str], sig: int | None = None) -> None:
        """Stop these trees at once: one grace period for all of them, not one each."""
        children = [child for name in names if (child := self.children.pop(name, None)) is not None]
        procs: list[psutil.Process] = []
        for child in children:
            tree = child.tree()
            _send(tree, child.stop_signal if sig is None else sig)
            procs.extend(tree)
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_SECONDS)
        alive = [p for p in {*alive, *(p for child in children for p in child.tree())} if _running(p)]
        _send(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
        for child in children:
            try:
                child.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.popen.kill()

    def leftovers(self) -> list[psutil.Process]:
        return processes_of_run(self.marker, self.roots)

    def stop_all(self) -> None:
        """Stop every tree, all at once but the ``stop_last`` ones (the servers the others use)
        after the rest, then SIGKILL anything else carrying this run's marker (a process that
        escaped its tree)."""
        self._stop_together([name for name, child in self.children.items() if not child.stop_last])
        self._stop_together(list(self.children))
        strays = self.leftovers()
        self.strays_swept += len(strays)
        _send(strays, signal.SIGKILL)
        psutil.wait_procs(strays, timeout=10)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _send(procs: Sequence[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            continue


def processes_of_run(marker: str, roots: Sequence[Path]) -> list[psutil.Process]:
    """Live processes (any group, any user) of the run with this marker and these directories."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if proc.environ().get(DEPLOY_RUN_MARKER_VAR) == marker or _inside(Path(proc.cwd()), roots):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def describe(procs: Sequence[psutil.Process]) -> str:
    lines = []
    for proc in procs:
        try:
            lines.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"{proc.pid} (gone)")
    return "\n".join(lines)
