"""The deployment scenarios: each runs a DAG through the real scheduler, reads the outcome back from
Airflow and the emulator, writes a report and asserts on it. The test modules pick a deployment
(newest Airflow or Airflow 3.0) and call them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.reports import write_report

REPORTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "deployment"


def report(title: str, lines: list[tuple[str, Any]]) -> str:
    """Print the scenario's figures and keep them in ``test-artifacts/deployment/``."""
    return write_report(REPORTS, title, lines)
