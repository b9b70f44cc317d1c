"""``make demo``: run the main example DAG end to end against the bundled emulator.

1. start the Mailgun + Maton emulator in the background on a free port;
2. seed it with what a real account would already hold: bounces from a mailbox provider's outage
   last week (4xx codes, to be cleared) and a few hard bounces (to stay);
3. point ``AIRFLOW_CONN_MATON_DEFAULT`` at its gateway, prepare a throwaway ``AIRFLOW_HOME``
   with sqlite, and run ``airflow dags test mailgun_campaign``;
4. print a short report from the emulator's own records, and stop the emulator (also on failure).

Exits non-zero when the DAG run failed. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

# The sibling module, found also when the tests load this file by its path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_env import DOMAIN, ROOT, emulator_connection, throwaway_airflow_env

DEMO_DIR = ROOT / ".demo"
MEMBERS_CSV = ROOT / "example_dags" / "data" / "newsletter_members.csv"
DAG_ID = "mailgun_campaign"
LIST_ADDRESS = f"newsletter@{DOMAIN}"


def main() -> int:
    started = time.monotonic()
    emulator, urls = _start_emulator()
    try:
        direct, gateway, ctrl = urls
        keys = _emulator_keys()
        soft, hard = _seed_previous_bounces(direct, keys["mailgun"])
        print(f"Emulator up at {direct} (web inbox: {direct}/). Seeded {soft} soft and {hard} hard bounces.")
        env = _airflow_env(gateway, ctrl)
        _run(["airflow", "db", "migrate"], env, quiet=True)
        print(f"Running: airflow dags test {DAG_ID}")
        result = subprocess.run([_bin("airflow"), "dags", "test", DAG_ID], env=env, check=False)
        _report(direct, result.returncode, time.monotonic() - started)
        _hold_for_inbox(direct)
        return 0 if result.returncode == 0 else 1
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


def _start_emulator() -> tuple[subprocess.Popen[str], tuple[str, str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_mailgun.testing", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    found = re.findall(r"https?://\S+", line)
    if len(found) != 3:
        process.terminate()
        raise SystemExit(f"The emulator did not start: {line!r}")
    return process, (found[0], found[1], found[2])


def _emulator_keys() -> dict[str, str]:
    from airflow_provider_mailgun.testing import (
        DEFAULT_MAILGUN_KEY,
        DEFAULT_MATON_CONNECTION,
        DEFAULT_MATON_KEY,
    )

    return {
        "mailgun": DEFAULT_MAILGUN_KEY,
        "maton": DEFAULT_MATON_KEY,
        "connection": DEFAULT_MATON_CONNECTION,
    }


def _seed_previous_bounces(direct: str, key: str) -> tuple[int, int]:
    """Last week's outage left 4xx bounces for some members; a few mailboxes are really gone."""
    with MEMBERS_CSV.open(newline="") as handle:
        rows = [
            r for r in csv.DictReader(handle) if _plain_address(r["address"]) and r["subscribed"] == "yes"
        ]
    soft = [
        {"address": r["address"], "code": "421", "error": "4.2.1 mailbox temporarily unavailable"}
        for r in rows[5:65]
    ]
    hard = [{"address": r["address"], "code": "550", "error": "5.1.1 no such user"} for r in rows[100:110]]
    auth = base64.b64encode(f"api:{key}".encode()).decode()
    request = urllib.request.Request(
        f"{direct}/v3/{DOMAIN}/bounces",
        data=json.dumps(soft + hard).encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    return len(soft), len(hard)


def _plain_address(text: str) -> bool:
    """Rows the sync will accept (the CSV holds deliberately broken addresses too)."""
    from airflow_provider_mailgun._common.addresses import parse_address
    from airflow_provider_mailgun.exceptions import InvalidAddressError

    try:
        parse_address(text)
    except InvalidAddressError:
        return False
    return True


def _airflow_env(gateway: str, ctrl: str) -> dict[str, str]:
    home = DEMO_DIR / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return throwaway_airflow_env(
        home,
        AIRFLOW_CONN_MATON_DEFAULT=emulator_connection(gateway, ctrl),
        # `airflow dags test` suggests graphviz for drawing the DAG, which the demo does not need.
        PYTHONWARNINGS="ignore:Could not import graphviz",
    )


def _report(direct: str, returncode: int, elapsed: float) -> None:
    stored = _get(direct, "/_emulator/messages")
    events = _get(direct, "/_emulator/events")
    requests = _get(direct, "/_emulator/requests")
    members, subscribed = _list_figures(direct)
    kinds = Counter(e.get("event") for e in _items(events))
    cleared = sum(1 for r in _items(requests) if r["method"] == "DELETE" and "/bounces/" in r["path"])
    copies = _items(stored)
    outcome = "succeeded" if returncode == 0 else "FAILED"
    print()
    print(f"Demo {outcome} in {elapsed:.0f} s. What the emulator recorded:")
    print(f"  list {LIST_ADDRESS}: {members} members synced, {subscribed} subscribed")
    print(f"  emails sent:       {len(copies)} copies to {len({c['recipient'] for c in copies})} recipients")
    print(f"  delivered:         {kinds.get('delivered', 0)}")
    print(f"  failed:            {kinds.get('failed', 0)} (bouncing mailboxes and suppressed addresses)")
    print(f"  bounces cleared:   {cleared}")
    print(f"  API requests:      {len(_items(requests))}")


def _hold_for_inbox(direct: str) -> None:
    """Keep the emulator up for a look at the inbox when a person is at the terminal."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        print(f"\nBrowse the inbox at {direct}/ ; press Enter to stop the emulator.")
        with contextlib.suppress(EOFError):
            input()


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.load(response)


def _list_figures(direct: str) -> tuple[int, int]:
    """Members and subscribed members of the newsletter list, read through the provider's client."""
    from airflow_provider_mailgun.client import ClientConfig, MailgunClient
    from airflow_provider_mailgun.exceptions import MailgunError

    with MailgunClient(ClientConfig.for_mailgun(_emulator_keys()["mailgun"], base_url=direct)) as client:
        try:
            total = int(client.lists.get(LIST_ADDRESS).get("members_count", 0))
            subscribed = sum(1 for _ in client.members.iter(LIST_ADDRESS, subscribed=True))
        except MailgunError:
            return 0, 0
    return total, subscribed


def _items(body: Any) -> list[dict[str, Any]]:
    return list(body.get("items", [])) if isinstance(body, dict) else list(body)


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _run(command: list[str], env: dict[str, str], *, quiet: bool = False) -> None:
    command = [_bin(command[0]), *command[1:]]
    result = subprocess.run(command, env=env, check=False, capture_output=quiet, text=True)
    if result.returncode:
        sys.stderr.write(result.stderr or "")
        raise SystemExit(f"{' '.join(command[:3])} failed with exit code {result.returncode}")


if __name__ == "__main__":
    sys.exit(main())
