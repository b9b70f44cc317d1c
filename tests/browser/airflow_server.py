"""Start ``airflow api-server`` of the running virtualenv on 127.0.0.1 with a throwaway sqlite home.

Used by the connection-form tests: ``with AirflowApiServer(tmp_path) as server: server.url``.
Everyone is admin (SimpleAuthManager with ``simple_auth_manager_all_admins``), so the UI needs no
login. The server runs in its own process group, killed as a whole on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

STARTUP_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path) -> dict[str, str]:
    """The environment of a throwaway Airflow: its own home, sqlite DB, no examples, no login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Airflow 3.0 leaves the JWT issuer unset, which recent PyJWT rejects (500 on every call).
            "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-mailgun-tests",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return env


class AirflowApiServer:
    """``airflow db migrate`` then ``airflow api-server`` on a free port; ``url`` once it answers."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "api-server.log"
        self.env = airflow_env(home)
        self.process: subprocess.Popen[bytes] | None = None

    def _airflow(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def start(self) -> AirflowApiServer:
        migrate = subprocess.run(
            [self._airflow(), "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=300
        )
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [self._airflow(), "api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: uvicorn workers die with it
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow api-server exited early:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise RuntimeError(
            f"airflow api-server did not answer within {STARTUP_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> AirflowApiServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
