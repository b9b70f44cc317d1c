"""The names the client and the emulator share (``_common/mailgun_names.py``) against Mailgun's spec.

One transcription serves both sides of the wire, so it is checked here against Mailgun's OpenAPI
spec: each list holds what the spec's enum holds, plus only the names listed below that the spec
leaves out (Mailgun's analytics documentation names them; they were accepted before the lists
were shared).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun._common import mailgun_names

yaml = pytest.importorskip("yaml")

SPEC_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "mailgun-openapi.yaml"
GO = "github.com-mailgun-analytics-client-golang-"
#: Names the lists accept beyond the spec's enums.
LOG_EVENTS_BEYOND_SPEC = {"trapped", "unique_opened", "unique_clicked"}
METRICS_BEYOND_SPEC = {"stored_count", "unique_clicked_rate", "delivered_subsequent_count", "fail_rate"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        pytest.skip(f"Mailgun's OpenAPI spec is not at {SPEC_PATH}")
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def _enum(spec: dict[str, Any], schema: str) -> set[str]:
    return set(spec["components"]["schemas"][schema]["enum"])


def test_metrics_dimensions_and_usage_are_the_specs(spec: dict[str, Any]) -> None:
    assert set(mailgun_names.DIMENSIONS) == _enum(spec, GO + "DimensionName")
    assert set(mailgun_names.USAGE_DIMENSIONS) == _enum(spec, GO + "UsageDimensionName")
    assert set(mailgun_names.USAGE_METRICS) == _enum(spec, GO + "UsageMetric")
    assert set(mailgun_names.METRICS) == _enum(spec, GO + "Metric") | METRICS_BEYOND_SPEC


def test_event_types_are_the_specs(spec: dict[str, Any]) -> None:
    event_types = _enum(spec, "EventType")
    assert set(mailgun_names.LOG_EVENTS) == event_types | LOG_EVENTS_BEYOND_SPEC
    assert set(mailgun_names.EVENTS_API_TYPES) <= event_types


def test_webhook_ids_are_named_by_the_spec() -> None:
    if not SPEC_PATH.is_file():
        pytest.skip(f"Mailgun's OpenAPI spec is not at {SPEC_PATH}")
    text = SPEC_PATH.read_text()
    assert [name for name in mailgun_names.WEBHOOK_EVENTS if f"`{name}`" not in text] == []


def test_each_list_names_each_name_once() -> None:
    for name in (
        "LOG_EVENTS",
        "EVENTS_API_TYPES",
        "DIMENSIONS",
        "METRICS",
        "USAGE_METRICS",
        "WEBHOOK_EVENTS",
    ):
        values = getattr(mailgun_names, name)
        assert len(set(values)) == len(values), name
