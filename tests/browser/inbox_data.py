"""Shared test data for the inbox tests: a personalised 50-recipient campaign sent through the hook."""

from __future__ import annotations

import base64
from typing import Any

# A 1x1 transparent PNG: the inline (cid:) image of the campaign.
LOGO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dennis",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Guido",
    "Hedy",
    "Ivan",
    "Jean",
    "John",
    "Ken",
    "Leslie",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Richard",
    "Robin",
    "Shafi",
    "Sophie",
    "Tim",
    "Tony",
    "Vint",
    "Whitfield",
    "Yukihiro",
    "Alonzo",
    "Annie",
    "Bjarne",
    "Butler",
    "Charles",
    "Dana",
    "Evelyn",
    "Fernando",
    "Gordon",
    "Herman",
    "Ida",
    "Joan",
    "Karen",
    "Lynn",
    "Mary",
    "Niklas",
    "Ole",
    "Peter",
]
BOUNCING = ("bounce.kim@example.org", "bounce.lee@example.org")
COMPLAINING = ("complain.max@example.org",)
SCRIPT_MARKER = "script did not run"


def campaign_recipients() -> list[str]:
    """50 addresses: 47 that get delivered, 2 that bounce (550) and 1 that complains."""
    regular = [f"{name.lower()}@example.org" for name in FIRST_NAMES[:47]]
    return regular + list(BOUNCING) + list(COMPLAINING)


def recipient_variables(recipients: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for index, address in enumerate(recipients):
        name = address.split("@")[0].split(".")[-1].capitalize()
        out[address] = {"name": name, "code": f"JUNE-{index:02d}"}
    return out


def campaign_html(pixel_url: str) -> str:
    """A mail body that tries everything a sandbox must stop: scripts, handlers, remote loads."""
    return (
        '<h1 style="color:#c02c3d">Hello %recipient.name%</h1>'
        '<p>Your code: <b id="code">%recipient.code%</b></p>'
        '<p><img alt="logo" src="cid:logo.png" width="24" height="24"></p>'
        f'<img alt="tracking pixel" src="{pixel_url}/pixel.png">'
        f'<link rel="stylesheet" href="{pixel_url}/style.css">'
        f'<div style="background:url({pixel_url}/bg.png)">background</div>'
        f'<p id="marker">{SCRIPT_MARKER}</p>'
        "<script>document.getElementById('marker').textContent = 'SCRIPT RAN';"
        "try { parent.document.title = 'pwned'; parent.pwned = true; } catch (e) {}</script>"
        '<img alt="broken" src="x" onerror="document.getElementById(\'marker\').textContent=\'ONERROR RAN\'">'
    )


def send_campaign(conn_id: str, domain: str, pixel_url: str) -> list[str]:
    """Send the campaign as one batch send through the provider's hook; returns the recipients."""
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    recipients = campaign_recipients()
    fields: dict[str, Any] = {
        "from": f"June News <news@{domain}>",
        "to": recipients,
        "subject": "June news for %recipient.name%",
        "text": "Hello %recipient.name%, your code is %recipient.code%.",
        "html": campaign_html(pixel_url),
        "recipient-variables": recipient_variables(recipients),
        "o:tag": ["newsletter", "june"],
        "v:campaign": "june-%recipient.code%",
    }
    files = [
        ("inline", ("logo.png", LOGO_PNG, "image/png")),
        ("attachment", ("terms.txt", b"Terms and conditions apply.\n", "text/plain")),
    ]
    hook = MailgunHook(conn_id)
    try:
        hook.messages.send(domain, fields, files=files)
    finally:
        hook.close()
    return recipients
