"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Import-free on purpose: Airflow calls this for every process that lists providers, and the
connection form of the UI (3.2+) is built from ``conn-fields`` and ``ui-field-behaviour`` alone.
"""

from __future__ import annotations

from typing import Any

_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}

_SHARED_EXTRAS: dict[str, Any] = {
    "default_domain": {
        "label": "Default sending domain",
        "description": "Domain used when an operator names none, e.g. mg.example.com.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Read timeout of each request; the connect timeout is at most 10 s.",
        "schema": {**_NUMBER_OR_NULL, "default": 60},
    },
}

_MATON_FIELDS: dict[str, Any] = {
    "maton_connection": {
        "label": "Maton connection id",
        "description": (
            "Sent as the Maton-Connection header; empty uses the oldest ACTIVE Mailgun connection."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "ctrl_url": {
        "label": "Maton control URL",
        "description": "Host that manages Maton connections.",
        "schema": {"type": ["string", "null"], "default": "https://ctrl.maton.ai"},
    },
    **_SHARED_EXTRAS,
    "max_requests_per_second": {
        "label": "Max requests per second",
        "description": "Client-side rate limit; Maton allows 10 requests/s per account.",
        "schema": {**_NUMBER_OR_NULL, "default": 10},
    },
}

_MAILGUN_FIELDS: dict[str, Any] = {
    "region": {
        "label": "Region",
        "description": "us -> api.mailgun.net, eu -> api.eu.mailgun.net (a host set above overrides it).",
        "schema": {"type": "string", "enum": ["us", "eu"], "default": "us"},
    },
    **_SHARED_EXTRAS,
    "max_requests_per_second": {
        "label": "Max requests per second",
        "description": "Client-side rate limit; empty means none.",
        "schema": _NUMBER_OR_NULL,
    },
}

_HIDDEN = ["login", "schema", "port", "extra"]

_WEBHOOK_OPTIONS: dict[str, Any] = {
    "enabled": {
        "description": "Mount the Mailgun webhook receiver on the api-server at /mailgun/webhooks/<asset>.",
        "version_added": "0.1.0",
        "type": "boolean",
        "example": "True",
        "default": "False",
    },
    "signing_key": {
        "description": "Mailgun's HTTP webhook signing key (not the API key); the only credential.",
        "version_added": "0.1.0",
        "type": "string",
        "example": None,
        "default": "",
        "sensitive": True,
    },
    "assets": {
        "description": "Comma-separated names of the assets webhooks may record events on.",
        "version_added": "0.1.0",
        "type": "string",
        "example": "mailgun_complaints",
        "default": "",
    },
    "max_body_bytes": {
        "description": "Larger bodies are refused (413) without being read.",
        "version_added": "0.1.0",
        "type": "integer",
        "example": None,
        "default": "65536",
    },
    "max_age_seconds": {
        "description": "Older signatures are refused (403).",
        "version_added": "0.1.0",
        "type": "float",
        "example": None,
        "default": "900",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (validated against Airflow's provider_info schema in tests)."""
    import airflow_provider_mailgun  # only the version: the package's __init__ imports nothing

    package = "airflow_provider_mailgun"
    return {
        "package-name": "airflow-provider-mailgun",
        "name": "Mailgun",
        "description": (
            "Send, track and manage Mailgun email from Airflow, directly or through the Maton gateway."
        ),
        "versions": [airflow_provider_mailgun.__version__],
        "integrations": [
            {
                "integration-name": "Mailgun",
                "external-doc-url": "https://documentation.mailgun.com/",
                "tags": ["service"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "maton",
                "hook-class-name": f"{package}.hooks.mailgun.MailgunHook",
                "hook-name": "Mailgun via Maton",
                "conn-fields": _MATON_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": _HIDDEN,
                    "relabeling": {"host": "Gateway URL", "password": "Maton API key"},
                    "placeholders": {"host": "https://gateway.maton.ai"},
                },
            },
            {
                "connection-type": "mailgun",
                "hook-class-name": f"{package}.hooks.mailgun.MailgunDirectHook",
                "hook-name": "Mailgun",
                "conn-fields": _MAILGUN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": _HIDDEN,
                    "relabeling": {"host": "API base URL (optional)", "password": "Mailgun private API key"},
                    "placeholders": {"host": "leave empty to use the region"},
                },
            },
        ],
        "hooks": [{"integration-name": "Mailgun", "python-modules": [f"{package}.hooks.mailgun"]}],
        "operators": [
            {
                "integration-name": "Mailgun",
                "python-modules": [
                    f"{package}.operators.messages",
                    f"{package}.operators.suppressions",
                    f"{package}.operators.lists",
                    f"{package}.operators.analytics",
                ],
            }
        ],
        "sensors": [{"integration-name": "Mailgun", "python-modules": [f"{package}.sensors.events"]}],
        "triggers": [
            {
                "integration-name": "Mailgun",
                "python-modules": [f"{package}.triggers.events", f"{package}.triggers.event_watch"],
            }
        ],
        "plugins": [
            {
                "name": "mailgun_webhooks",
                "plugin-class": f"{package}.plugins.webhook_receiver.MailgunWebhookPlugin",
            }
        ],
        "config": {
            "mailgun_webhooks": {
                "description": "The optional receiver of Mailgun's signed webhooks (off by default).",
                "options": _WEBHOOK_OPTIONS,
            }
        },
        "notifications": [f"{package}.notifications.mailgun.MailgunNotifier"],
        "email-backends": [f"{package}.utils.emailer.send_email"],
    }
