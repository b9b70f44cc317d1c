"""Engagement metrics per tag and per day, from the Metrics API, with rates computed here.

One query (``dimensions=["time", "tag"]``, daily resolution) over the interval; each item becomes
a row::

    {"day": "2026-01-01", "tag": "newsletter", "accepted": 100, "delivered": 97, "opened": 40,
     "clicked": 12, "bounced": 3, "complained": 0, "unsubscribed": 1,
     "delivered_rate": 0.97, "opened_rate": 0.4124, "clicked_rate": 0.1237, "bounce_rate": 0.03,
     "complained_rate": 0.0, "unsubscribed_rate": 0.0103}

Rates are fractions (0 to 1, four decimals) computed from the counts, so they mean the same
whatever format the API uses for its own rate metrics: delivered and bounced over accepted, the
engagement counts over delivered; ``None`` when the denominator is zero. Messages without a tag
are not in any row (the tag dimension groups tagged messages only).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_mailgun._analytics.plan import ReportPlan, shorthand_filter

COUNTS = {
    "accepted": "accepted_count",
    "delivered": "delivered_count",
    "opened": "opened_count",
    "clicked": "clicked_count",
    "bounced": "bounced_count",
    "complained": "complained_count",
    "unsubscribed": "unsubscribed_count",
}
RATES = {
    "delivered_rate": ("delivered", "accepted"),
    "opened_rate": ("opened", "delivered"),
    "clicked_rate": ("clicked", "delivered"),
    "bounce_rate": ("bounced", "accepted"),
    "complained_rate": ("complained", "delivered"),
    "unsubscribed_rate": ("unsubscribed", "delivered"),
}


def metrics_query(plan: ReportPlan) -> dict[str, Any]:
    """Keyword arguments of ``client.metrics.pages``."""
    query: dict[str, Any] = {
        "start": plan.start,
        "end": plan.end,
        "resolution": "day",
        "dimensions": ["time", "tag"],
        "metrics": list(COUNTS.values()),
    }
    conditions = shorthand_filter(plan.domains, plan.tags)
    if conditions:
        query["filter"] = conditions
    return query


def report_rows(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by day then tag (see the module docstring)."""
    rows = []
    for item in items:
        dims = {d.get("dimension"): d.get("value") for d in item.get("dimensions") or ()}
        metrics = item.get("metrics") or {}
        row: dict[str, Any] = {"day": _day(dims.get("time")), "tag": dims.get("tag")}
        for name, metric in COUNTS.items():
            row[name] = int(metrics.get(metric) or 0)
        for name, (part, whole) in RATES.items():
            row[name] = round(row[part] / row[whole], 4) if row[whole] else None
        rows.append(row)
    return sorted(rows, key=lambda r: (r["day"] or "", r["tag"] or ""))


def _day(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return parsedate_to_datetime(value).astimezone(timezone.utc).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return value
