"""The deployment's Airflow seen through its REST API (``/api/v2``), as an operator would see it.

::

    api = AirflowApi("http://127.0.0.1:8080")
    run_id = api.trigger("mailgun_large_campaign_mapped", {"recipients": 20000})
    run = api.wait_for_run("mailgun_large_campaign_mapped", run_id, timeout=300)
    api.task_instances(dag_id, run_id)        # every try's latest state, mapped ones included
    api.tries(dag_id, run_id, "send", 3)      # each try of send[3]: hostname, state, try_number
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from tests.deployment.processes import HarnessError, wait_until

FINISHED = {"success", "failed"}


class AirflowApi:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            # SimpleAuthManager with "all admins": a token for the asking (no users in a test deployment).
            response = requests.get(f"{self.base_url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.base_url}/api/v2/{path}", headers=self._headers(), timeout=60, **kwargs
        )
        if response.status_code >= 400:
            raise HarnessError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def healthy(self) -> dict[str, str]:
        """``{component: status}`` of the monitor endpoint (metadatabase, scheduler, triggerer, ...)."""
        try:
            body = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}
        return {name: str((part or {}).get("status")) for name, part in body.items()}

    def dag_parsed(self, dag_id: str) -> bool:
        try:
            self.call("GET", f"dags/{dag_id}")
        except (HarnessError, requests.RequestException):
            return False
        return True

    def wait_for_dags(self, dag_ids: list[str], timeout: float) -> None:
        wait_until(
            lambda: all(self.dag_parsed(d) for d in dag_ids), timeout, f"DAGs {dag_ids} to be parsed", 1.0
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        body = {"logical_date": None, "conf": conf or {}}
        return str(self.call("POST", f"dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, check: Callable[[], None] | None = None
    ) -> str:
        """The run's final state; :class:`HarnessError` with the task states when it takes too long.

        ``check`` runs on every poll (the deployment raises there when one of its processes died).
        """
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in FINISHED:
            if check is not None:
                check()
            if time.monotonic() > deadline:
                states = {key: ti["state"] for key, ti in self.task_instances(dag_id, run_id).items()}
                raise HarnessError(f"{dag_id} still {state} after {timeout:.0f} s: {states}")
            time.sleep(1)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """``{"task" or "task[i]": task instance}`` of one run."""
        body = self.call("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        out = {}
        for ti in body["task_instances"]:
            index = ti.get("map_index", -1)
            out[ti["task_id"] if index < 0 else f"{ti['task_id']}[{index}]"] = ti
        return out

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of one task instance, oldest first (hostname, state, try_number, dates)."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        body = self.call("GET", path)
        return sorted(body["task_instances"], key=lambda ti: ti["try_number"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        # Stored as JSON (plain dicts and lists come back as they were pushed).
        return self.call("GET", path, params={"map_index": map_index, "stringify": False})["value"]
