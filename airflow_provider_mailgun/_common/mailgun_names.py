"""The names Mailgun's API defines: event types, metrics, dimensions, webhook ids.

One transcription, shared by the client (which checks queries before sending them) and the
emulator (which refuses what Mailgun refuses); ``tests/test_mailgun_names.py`` holds it to
Mailgun's OpenAPI spec, so neither side can carry a name the spec does not know, unnoticed.
Plain data: nothing of Airflow, nothing of HTTP.
"""

from __future__ import annotations

#: Event types the Logs API takes in ``events``.
LOG_EVENTS = (
    "accepted",
    "delivered",
    "failed",
    "opened",
    "unique_opened",
    "clicked",
    "unique_clicked",
    "unsubscribed",
    "complained",
    "rejected",
    "stored",
    "email_validation",
    "list_uploaded",
    "list_member_uploaded",
    "list_member_upload_error",
    "trapped",
)
#: Event types the Events API filters on (``event=``); the Logs API knows more.
EVENTS_API_TYPES = (
    "accepted",
    "rejected",
    "delivered",
    "failed",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "stored",
    "list_member_uploaded",
    "list_member_upload_error",
    "list_uploaded",
)

#: Dimensions of the Metrics API (``/usage/metrics`` takes only the usage ones).
DIMENSIONS = (
    "bot",
    "country",
    "ip_pool",
    "recipient_domain",
    "recipient_provider",
    "ip",
    "domain",
    "tag",
    "device",
    "subaccount",
    "time",
)
USAGE_DIMENSIONS = ("subaccount", "time")

#: Metrics of the Metrics API: counts and rates.
_COUNTS = (
    "accepted_incoming accepted_outgoing accepted delivered_smtp delivered_http delivered_optimized "
    "delivered stored processed sent opened clicked unique_opened unique_clicked unsubscribed "
    "complained failed temporary_failed permanent_failed temporary_failed_esp_block "
    "permanent_failed_esp_block rate_limit webhook permanent_failed_optimized permanent_failed_old "
    "bounced hard_bounces soft_bounces delayed_bounce suppressed_bounces suppressed_unsubscribed "
    "suppressed_complaints delivered_first_attempt delayed_first_attempt delivered_subsequent "
    "delivered_two_plus_attempts"
)
_RATES = (
    "delivered opened clicked unique_opened unique_clicked unsubscribed complained bounce fail "
    "permanent_fail temporary_fail delayed delayed_first_attempt"
)
METRICS = tuple(f"{name}_count" for name in _COUNTS.split()) + tuple(f"{n}_rate" for n in _RATES.split())
USAGE_METRICS = tuple(
    f"{name}_count"
    for name in [
        "processed",
        "email_validation",
        "email_validation_public",
        "email_validation_valid",
        "email_validation_single",
        "email_validation_bulk",
        "email_validation_list",
        "email_validation_mailgun",
        "email_validation_mailjet",
        "email_preview",
        "email_preview_failed",
        "link_validation",
        "link_validation_failed",
        "seed_test",
        "ip_blocklist_monitoring",
        "domain_blocklist_monitoring",
        "accessibility",
        "accessibility_failed",
        "image_validation",
        "image_validation_failed",
        "archived",
    ]
)

#: Webhook ids of the v3 domain webhooks API.
WEBHOOK_EVENTS = (
    "accepted",
    "clicked",
    "complained",
    "delivered",
    "opened",
    "permanent_fail",
    "temporary_fail",
    "unsubscribed",
)
