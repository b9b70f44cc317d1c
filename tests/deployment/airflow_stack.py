"""A whole Airflow deployment as separate processes, on PostgreSQL and Redis, in a temp dir.

::

    deploy = Deployment(run_dir, venv_bin=Path(".venv/bin"), dag_files=[...])
    try:
        deploy.start()
        deploy.api.trigger("mailgun_large_campaign_mapped", {...})
        deploy.kill_worker("w1")          # SIGKILL of the worker's whole tree
        deploy.start_worker("w3")
    finally:
        deploy.stop()

Processes (each in its own process group, logs in ``<run_dir>/logs``): postgres, redis, the
emulator, ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and one
``airflow celery worker`` per name in ``workers`` (the Celery executor, Redis broker, PostgreSQL
result backend). Everything is on
127.0.0.1 on free ports; :meth:`Deployment.stop` (called in ``finally``, so also on errors and
Ctrl-C, and by an ``atexit`` hook) stops every tree and removes PostgreSQL's data dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.deployment.airflow_api import AirflowApi
from tests.deployment.emulator_process import RemoteEmulator, start_emulator
from tests.deployment.processes import (
    DEPLOY_RUN_MARKER_VAR,
    HarnessError,
    ProcessRegistry,
    free_port,
    tail,
    wait_until,
)
from tests.deployment.services import Postgres, remove_postgres_data, start_postgres, start_redis
from tests.deployment.worker_identity import WORKER_NAME_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]
MIGRATE_TIMEOUT = 300.0
READY_TIMEOUT = 180.0
#: Seconds without a heartbeat after which the scheduler fails a running task instance (its worker
#: is gone) and retries it. Airflow's default is 300 s; tasks heartbeat every 5 s.
HEARTBEAT_TIMEOUT = 20
#: Seconds a task may stay queued (handed to Celery, not started) before the scheduler requeues it.
QUEUED_TIMEOUT = 60
#: Seconds without a triggerer heartbeat after which its triggers move to another triggerer.
TRIGGERER_HEALTH_THRESHOLD = 15


def airflow_settings(
    home: Path, pg: Postgres, broker: str, api_port: int, connections: dict[str, str]
) -> dict[str, str]:
    """The ``AIRFLOW__*`` settings every process of the deployment shares (same values in all)."""
    api = f"http://127.0.0.1:{api_port}"
    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.deployment.worker_identity.hostname",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # What a production deployment sets so that a task whose worker died is retried.
        "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "2",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.sqlalchemy_url,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-mailgun-deployment",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # A worker killed right after Celery handed it a task leaves that task queued (its message
        # unacknowledged in the broker); the scheduler requeues it after this long (default 600 s).
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "3",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": pg.celery_result_backend,
    }
    settings.update({f"AIRFLOW_CONN_{conn_id.upper()}": uri for conn_id, uri in connections.items()})
    return settings


class Deployment:
    """Start with :meth:`start`, stop with :meth:`stop`; see the module docstring."""

    def __init__(
        self,
        run_dir: Path,
        *,
        venv_bin: Path,
        dag_files: Sequence[Path],
        workers: Sequence[str] = ("w1", "w2"),
        worker_concurrency: int = 2,
        emulator_args: Sequence[str] = (),
    ) -> None:
        self.run_dir = run_dir
        self.venv_bin = venv_bin
        self.dag_files = list(dag_files)
        self.initial_workers = list(workers)
        self.worker_concurrency = worker_concurrency
        self.emulator_args = list(emulator_args)
        self.procs = ProcessRegistry(run_dir, secrets.token_hex(8))
        self.pg: Postgres | None = None
        self.emulator: RemoteEmulator | None = None
        self.env: dict[str, str] = {}
        self.api_port = free_port()
        self.api = AirflowApi(f"http://127.0.0.1:{self.api_port}")
        self.startup_seconds = 0.0

    # ---------------------------------------------------------------- lifecycle
    def start(self, extra_settings: dict[str, str] | None = None) -> Deployment:
        """Start every process (see the module docstring); ``extra_settings`` go to all of them."""
        began = time.monotonic()
        home = self.run_dir / "airflow"
        (home / "dags").mkdir(parents=True, exist_ok=True)
        for dag_file in self.dag_files:
            shutil.copy(dag_file, home / "dags" / dag_file.name)
        self.pg = start_postgres(self.procs)
        broker = start_redis(self.procs, self.run_dir)
        self.emulator = start_emulator(self.procs, self.venv_bin / "python", *self.emulator_args)
        self.env = {
            **_base_environment(self.venv_bin),
            **airflow_settings(home, self.pg, broker, self.api_port, self.emulator_connections()),
            **(extra_settings or {}),
        }
        self.airflow_cli(["db", "migrate"], timeout=MIGRATE_TIMEOUT)
        self._start_airflow("api-server", ["api-server", "-H", "127.0.0.1", "-p", str(self.api_port)])
        self._start_airflow("scheduler", ["scheduler"])
        self._start_airflow("dag-processor", ["dag-processor"])
        self.start_triggerer()
        for name in self.initial_workers:
            self.start_worker(name, wait=False)
        self.wait_ready()
        self.startup_seconds = time.monotonic() - began
        return self

    def add_dag_file(self, dag_file: Path) -> None:
        """Put a DAG file in the running deployment's folder (parsed within seconds)."""
        shutil.copy(dag_file, self.run_dir / "airflow" / "dags" / dag_file.name)

    def stop(self) -> None:
        self.procs.stop_all()
        remove_postgres_data(self.pg)

    # ---------------------------------------------------------------- processes
    def airflow_cli(self, args: list[str], timeout: float = 120.0) -> str:
        done = subprocess.run(
            [str(self.venv_bin / "airflow"), *args],
            env={**self.env, DEPLOY_RUN_MARKER_VAR: self.procs.marker},
            cwd=self.run_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise HarnessError(
                f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
            )
        return done.stdout

    def _start_airflow(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.procs.start(name, [str(self.venv_bin / "airflow"), *args], env={**self.env, **(env or {})})

    def start_triggerer(self) -> None:
        self._start_airflow("triggerer", ["triggerer", "--skip-serve-logs"])

    def start_worker(self, name: str, wait: bool = True) -> None:
        """``airflow celery worker`` named ``name`` (its task instances record ``hostname = name``)."""
        args = ["celery", "worker", "--celery-hostname", f"{name}@%h"]
        args += ["--concurrency", str(self.worker_concurrency), "--skip-serve-logs"]
        self._start_airflow(f"worker-{name}", args, env={WORKER_NAME_VAR: name})
        if wait:
            wait_until(lambda: self._worker_ready(name), READY_TIMEOUT, f"Celery worker {name}", 1.0)

    def kill_worker(self, name: str) -> None:
        self.procs.kill(f"worker-{name}")

    def kill_triggerer(self) -> None:
        self.procs.kill("triggerer")

    def _worker_ready(self, name: str) -> bool:
        child = self.procs.children[f"worker-{name}"]
        if not child.alive():
            raise HarnessError(f"Celery worker {name} exited:\n{tail(child.log)}")
        return " ready." in tail(child.log, 20000)

    def check_alive(self) -> None:
        """:class:`HarnessError` with its log tail when a process of the deployment died on its own."""
        for name, child in self.procs.children.items():
            if not child.alive():
                raise HarnessError(f"{name} exited (code {child.popen.returncode}):\n{tail(child.log)}")

    def wait_ready(self) -> None:
        """Every process up: the monitor reports scheduler (and triggerer) healthy, workers ready."""

        def ready() -> bool:
            self.check_alive()
            health = self.api.healthy()
            parts_ok = all(
                health.get(part) == "healthy" for part in ("metadatabase", "scheduler", "triggerer")
            )
            return parts_ok and all(self._worker_ready(name) for name in self.live_workers())

        wait_until(ready, READY_TIMEOUT, "the deployment to be ready", 1.0)

    def live_workers(self) -> list[str]:
        return [
            name.removeprefix("worker-")
            for name, child in self.procs.children.items()
            if name.startswith("worker-") and child.alive()
        ]

    # ---------------------------------------------------------------- emulator
    def emulator_connections(self) -> dict[str, str]:
        """``mailgun_deploy`` (direct API) and ``maton_deploy`` (gateway) as connection JSON."""
        emu = self.require_emulator()
        return {
            "mailgun_deploy": json.dumps(emu.direct_connection()),
            "maton_deploy": json.dumps(emu.gateway_connection()),
        }

    def require_emulator(self) -> RemoteEmulator:
        if self.emulator is None:
            raise HarnessError("the deployment is not started")
        return self.emulator

    @property
    def processes_started(self) -> int:
        return self.procs.started_count


def _base_environment(venv_bin: Path) -> dict[str, str]:
    """This environment without any Airflow setting of the caller's, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env["PATH"] = os.pathsep.join([str(venv_bin), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env
