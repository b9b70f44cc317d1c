"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Import-free on purpose: Airflow calls this for every process that lists providers, and the
connection form of the UI (3.2+) is built from ``conn-fields`` and ``ui-field-behaviour`` alone.
"""

from __future__ import annotations

from typing import Any

_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_TEXT_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One connection extra as the UI's connection form shows it."""
    return {"label": label, "description": description, "schema": schema}


def _shared_extras(rate_limit: str, rate_limit_schema: dict[str, Any]) -> dict[str, Any]:
    """The extras both connection types take; only the rate limit's default differs."""
    return {
        "default_domain": _field(
            "Default sending domain",
            "Domain used when an operator names none, e.g. mg.example.com.",
            _TEXT_OR_NULL,
        ),
        "timeout": _field(
            "Timeout (seconds)",
            "Read timeout of each request; the connect timeout is at most 10 s.",
            {**_NUMBER_OR_NULL, "default": 60},
        ),
        "max_requests_per_second": _field("Max requests per second", rate_limit, rate_limit_schema),
    }


_MATON_FIELDS: dict[str, Any] = {
    "maton_connection": _field(
        "Maton connection id",
        "Sent as the Maton-Connection header; empty uses the oldest ACTIVE Mailgun connection.",
        _TEXT_OR_NULL,
    ),
    "ctrl_url": _field(
        "Maton control URL",
        "Host that manages Maton connections; empty means https://ctrl.maton.ai with Maton's own "
        "gateway, and none with a private gateway (the key goes only to hosts set here).",
        _TEXT_OR_NULL,
    ),
    **_shared_extras(
        "Client-side rate limit; Maton allows 10 requests/s per account.", {**_NUMBER_OR_NULL, "default": 10}
    ),
}

_MAILGUN_FIELDS: dict[str, Any] = {
    "region": _field(
        "Region",
        "us -> api.mailgun.net, eu -> api.eu.mailgun.net (a host set above overrides it).",
        {"type": "string", "enum": ["us", "eu"], "default": "us"},
    ),
    **_shared_extras("Client-side rate limit; empty means none.", _NUMBER_OR_NULL),
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


def _connection_type(
    kind: str,
    hook_class: str,
    hook_name: str,
    fields: dict[str, Any],
    *,
    host: tuple[str, str],
    password: str,
) -> dict[str, Any]:
    """One connection type and its form: the host field's label and placeholder, the key's label."""
    host_label, host_placeholder = host
    return {
        "connection-type": kind,
        "hook-class-name": hook_class,
        "hook-name": hook_name,
        "conn-fields": fields,
        "ui-field-behaviour": {
            "hidden-fields": _HIDDEN,
            "relabeling": {"host": host_label, "password": password},
            "placeholders": {"host": host_placeholder},
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
            _connection_type(
                "maton",
                f"{package}.hooks.mailgun.MailgunHook",
                "Mailgun via Maton",
                _MATON_FIELDS,
                host=("Gateway URL", "https://gateway.maton.ai"),
                password="Maton API key",
            ),
            _connection_type(
                "mailgun",
                f"{package}.hooks.mailgun.MailgunDirectHook",
                "Mailgun",
                _MAILGUN_FIELDS,
                host=("API base URL (optional)", "leave empty to use the region"),
                password="Mailgun private API key",
            ),
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
        "sensors": [{"integration-name": "Mailgun", "python-modules": [f"{package}.sensors.delivery"]}],
        "triggers": [
            {
                "integration-name": "Mailgun",
                "python-modules": [f"{package}.triggers.delivery", f"{package}.triggers.event_watch"],
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
        "extra-links": [
            f"{package}.links.mailgun.MailgunMessagesLink",
            f"{package}.links.mailgun.MailgunListLink",
        ],
        "notifications": [f"{package}.notifications.mailgun.MailgunNotifier"],
        "email-backends": [f"{package}.utils.emailer.send_email"],
    }
