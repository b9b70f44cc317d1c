"""Default credentials and names the emulator starts with.

They are public test values, not secrets: every emulator accepts them unless told otherwise, so
examples, DAG tests and the pytest plugin can share them::

    from airflow_provider_mailgun.testing import DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY
"""

from __future__ import annotations

DEFAULT_DOMAIN = "mg.example.com"
DEFAULT_MAILGUN_KEY = "key-emulator-mailgun-0123456789abcdef"
DEFAULT_MATON_KEY = "maton-emulator-key-0123456789abcdef"
DEFAULT_MATON_CONNECTION = "8d9e5c3a-4b1f-4c2d-9e6a-000000000001"
#: Key the emulator signs webhook posts with (Mailgun's "HTTP webhook signing key").
DEFAULT_WEBHOOK_SIGNING_KEY = "key-emulator-webhook-signing-0123456789abcdef"
#: The shape of an account's public validation key: like Mailgun, the emulator refuses it (401) on
#: every endpoint it serves (it only opens the address validation API, which is not emulated).
DEFAULT_PUBLIC_KEY = "pubkey-emulator-0123456789abcdef0123456789"

#: Host the Maton gateway forwards to; paging URLs returned through the gateway point here.
MAILGUN_US_BASE = "https://api.mailgun.net"
#: Prefixes under which one emulator server answers as the other "hosts".
GATEWAY_PREFIX = "/_maton/gateway"
CTRL_PREFIX = "/_maton/ctrl"
#: Mailgun's EU region host (api.eu.mailgun.net): the same API, for domains created in the EU.
EU_PREFIX = "/_eu"
CONTROL_PREFIX = "/_emulator"
