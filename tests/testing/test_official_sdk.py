"""Mailgun's official Python SDK (PyPI ``mailgun``) reads Logs and Metrics from the emulator.

The answers validate against the spec's response schemas (see ``test_emulator_schema``).
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.testing.test_emulator_schema import SPEC_PATH, _validate

mailgun_client = pytest.importorskip(
    "mailgun.client", reason="install the test extra: pip install 'mailgun>=1.10'"
)
yaml = pytest.importorskip("yaml")

HEADERS = {"Content-Type": "application/json"}


def _load() -> dict:
    from tests.testing import test_emulator_schema as schema

    with SPEC_PATH.open() as handle:
        data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    data["components"]["schemas"]["github.com-mailgun-mime-RFC822Time"] = {"type": "string"}
    data["components"]["schemas"]["github.com-mailgun-tags-api-pkg-api-model-CustomTime"] = {"type": "string"}
    schema._patch_rfc822(data["components"])
    return data


def test_sdk_logs_and_metrics(mailgun_emulator: MailgunEmulator, send) -> None:
    spec = _load()
    send(
        to=["a@example.com", "b@example.com", "bounce@example.com"],
        **{"o:tag": "sdk", "recipient-variables": "{}"},
    )
    mailgun_emulator.engage("opened", tag="sdk")
    with mailgun_client.Client(
        auth=("api", mailgun_emulator.mailgun_key), api_url=mailgun_emulator.url
    ) as client:
        query = {
            "events": ["delivered", "failed", "opened"],
            "pagination": {"sort": "timestamp:asc", "limit": 3},
        }
        first = client.analytics_logs.create(data=json.dumps(query), headers=HEADERS)
        assert first.status_code == 200, first.text
        page = first.json()
        _validate(spec, "/v1/analytics/logs", "post", page)
        query["pagination"]["token"] = page["pagination"]["next"]
        second = client.analytics_logs.create(data=json.dumps(query), headers=HEADERS).json()
        _validate(spec, "/v1/analytics/logs", "post", second)
        events = [item["event"] for item in page["items"] + second["items"]]
        assert sorted(events) == ["delivered", "delivered", "failed", "opened", "opened"]
        assert "next" not in second["pagination"]
        metrics_query = {
            "duration": "1d",
            "resolution": "day",
            "dimensions": ["time", "tag"],
            "metrics": ["accepted_count", "delivered_count", "opened_count", "clicked_rate", "opened_rate"],
            "include_aggregates": True,
        }
        reply = client.analytics_metrics.create(data=json.dumps(metrics_query), headers=HEADERS)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        _validate(spec, "/v1/analytics/metrics", "post", body)
        (item,) = body["items"]
        assert item["metrics"]["accepted_count"] == 3
        assert item["metrics"]["opened_rate"] == "100.00"
        refused = client.analytics_metrics.create(data=json.dumps({"metrics": ["nope"]}), headers=HEADERS)
        assert refused.status_code == 400
        _validate(spec, "/v1/analytics/metrics", "post", refused.json(), "400")
