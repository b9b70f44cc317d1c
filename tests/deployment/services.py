"""PostgreSQL and Redis from the system's packages, as throwaway servers on free ports.

::

    missing = missing_services()          # one line saying what to install, or None
    pg = start_postgres(procs, workdir)   # -> "postgresql+psycopg2://airflow@127.0.0.1:<port>/airflow"
    redis = start_redis(procs, workdir)   # -> "redis://127.0.0.1:<port>/0"

PostgreSQL runs in the foreground (``postgres -D ...``) rather than through ``pg_ctl start``, which
detaches the server into a session of its own: in the foreground the harness owns the whole tree
(postmaster and backends) and stops it like any other child. As root, ``initdb`` and the server run
as the unprivileged ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.deployment.processes import HarnessError, ProcessRegistry, free_port, port_open, tail, wait_until

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = (
    "install the servers with `sudo apt-get install -y postgresql redis-server` and the Python "
    "packages with `pip install -e '.[deploy]'`"
)
START_TIMEOUT = 60.0


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server binaries (``initdb``, ``postgres``), or None."""
    found = sorted(glob.glob(PG_BIN_GLOB), key=lambda p: int(Path(p).parent.name or 0))
    for folder in reversed(found):
        if os.access(Path(folder) / "initdb", os.X_OK):
            return Path(folder)
    return None


def missing_services() -> str | None:
    """Why the deployment tests cannot run here (one line), or None when they can."""
    missing = []
    if postgres_bin() is None:
        missing.append("PostgreSQL server binaries")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser (to run PostgreSQL unprivileged)")
    for module in ("psycopg2", "redis", "airflow.providers.celery"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python module {module}")
    if not missing:
        return None
    return f"deployment tests need {', '.join(missing)}: {INSTALL_HINT}"


@dataclass(frozen=True)
class Postgres:
    port: int
    data_dir: Path

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    @property
    def celery_result_backend(self) -> str:
        return f"db+postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"


def _as_unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start_postgres(procs: ProcessRegistry) -> Postgres:
    """``initdb`` a cluster in a fresh temp dir, start it on a free port, create database ``airflow``."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise HarnessError(f"no PostgreSQL server binaries: {INSTALL_HINT}")
    # Its own temp dir (not under the run dir, which only root may enter), owned by the server's user.
    data_root = Path(tempfile.mkdtemp(prefix="mailgun-deploy-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(data_root, owner.pw_uid, owner.pw_gid)
    data = data_root / "data"
    init = subprocess.run(
        _as_unprivileged(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=data_root,
    )
    if init.returncode:
        raise HarnessError(f"initdb failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
    port = free_port()
    server = procs.start(
        "postgres",
        _as_unprivileged(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data_root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",  # throwaway data: durability costs time and buys nothing here
            ]
        ),
        cwd=data_root,
        # Immediate shutdown: no checkpoint of data that is removed right after.
        stop_signal=signal.SIGQUIT,
        stop_last=True,
    )
    wait_until(
        lambda: port_open(port) or not server.alive(),
        START_TIMEOUT,
        f"PostgreSQL on port {port}",
    )
    if not server.alive():
        raise HarnessError(f"PostgreSQL exited:\n{tail(server.log)}")
    created = subprocess.run(
        [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if created.returncode:
        raise HarnessError(f"createdb failed: {created.stderr.strip()}")
    return Postgres(port, data_root)


def remove_postgres_data(pg: Postgres | None) -> None:
    if pg is not None:
        shutil.rmtree(pg.data_dir, ignore_errors=True)


def start_redis(procs: ProcessRegistry, workdir: Path) -> str:
    """A Redis without persistence on a free port; returns the broker URL."""
    port = free_port()
    server = procs.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(workdir),
        ],
        stop_last=True,
    )
    wait_until(lambda: port_open(port) or not server.alive(), START_TIMEOUT, f"Redis on port {port}")
    if not server.alive():
        raise HarnessError(f"redis-server exited:\n{tail(server.log)}")
    return f"redis://127.0.0.1:{port}/0"
