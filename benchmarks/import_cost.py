"""What importing each public module adds to a DAG file, measured in fresh interpreters.

For each module: 10 fresh interpreters import Airflow's Task SDK first (``import airflow.sdk`` and
the base classes every DAG file with an operator pulls in: ``DAG``, ``BaseOperator``,
``BaseSensorOperator``, ``BaseNotifier``), then the module; the figure is the median time and
resident memory the module adds on top. Target for the operator modules: under 30 ms and 5 MB
(the hook loads its client, and with it requests, on the first request; email-validator waits for
the first address check). The cost of those base classes over ``import airflow.sdk`` alone is
recorded too, to show the baseline is the Task SDK itself (on Airflow 3.3 importing
``airflow.sdk`` already loads them).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks.common import record

RUNS = 10
MODULES = {
    "hook": "airflow_provider_mailgun.hooks.mailgun",
    "operators.messages": "airflow_provider_mailgun.operators.messages",
    "operators.lists": "airflow_provider_mailgun.operators.lists",
    "operators.suppressions": "airflow_provider_mailgun.operators.suppressions",
    "operators.analytics": "airflow_provider_mailgun.operators.analytics",
    "sensors.delivery": "airflow_provider_mailgun.sensors.delivery",
    "triggers.delivery": "airflow_provider_mailgun.triggers.delivery",
    "triggers.event_watch": "airflow_provider_mailgun.triggers.event_watch",
    "notifications.mailgun": "airflow_provider_mailgun.notifications.mailgun",
}
OPERATOR_MODULES = (
    "operators.messages",
    "operators.lists",
    "operators.suppressions",
    "operators.analytics",
    "sensors.delivery",
)
PROBE = """
import json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import airflow.sdk
def bases():
    from airflow.sdk import DAG, BaseOperator, BaseSensorOperator, BaseNotifier
if sys.argv[1] != "bases":
    bases()
t0, m0 = time.perf_counter(), rss()
bases() if sys.argv[1] == "bases" else __import__(sys.argv[1])
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000, "mb": (rss() - m0) / 2**20}))
"""


def _measure(module: str) -> dict[str, float]:
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "ms": round(statistics.median(s["ms"] for s in samples), 1),
        "mb": round(statistics.median(s["mb"] for s in samples), 2),
    }


def run() -> dict[str, Any]:
    figures: dict[str, Any] = {name: _measure(module) for name, module in MODULES.items()}
    figures["task_sdk_bases_themselves"] = _measure("bases")
    targets = {
        f"{name} < 30 ms and 5 MB": figures[name]["ms"] < 30 and figures[name]["mb"] < 5
        for name in OPERATOR_MODULES
    }
    summary = ", ".join(f"{name} +{f['ms']} ms/+{f['mb']} MB" for name, f in figures.items())
    return record("import_cost", figures, targets, f"median of {RUNS} fresh interpreters: {summary}")
