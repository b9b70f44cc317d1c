"""The command line entry point and the pytest plugin fixtures."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from airflow_provider_mailgun.testing import DEFAULT_MAILGUN_KEY, DEFAULT_MATON_KEY

LINE_RE = re.compile(r"direct=(\S+) gateway=(\S+) ctrl=(\S+)")


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], re.Match[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_mailgun.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = LINE_RE.search(line)
    if match is None:
        proc.kill()
        pytest.fail(f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}")
    return proc, match


def test_cli_prints_urls_serves_and_stops():
    proc, match = _start_cli("--domain", "cli.example.com", "--mailgun-key", "k1", "--delivery-delay", "0")
    try:
        direct, gateway, ctrl = match.groups()
        assert gateway == direct + "/_maton/gateway"
        assert ctrl == direct + "/_maton/ctrl"
        sent = requests.post(
            f"{direct}/v3/cli.example.com/messages",
            auth=("api", "k1"),
            data={"from": "a@cli.example.com", "to": "b@example.com", "subject": "s", "text": "t"},
            timeout=10,
        )
        assert sent.status_code == 200
        assert (
            requests.get(f"{direct}/v3/domains", auth=("api", DEFAULT_MAILGUN_KEY), timeout=5).status_code
            == 401
        )
        stored = requests.get(f"{direct}/_emulator/messages", timeout=5).json()
        assert stored["items"][0]["recipient"] == "b@example.com"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_faults_flag_and_errors():
    proc, match = _start_cli("--faults", json.dumps({"error_at": {"1": 503}}))
    try:
        url = f"{match.group(1)}/v3/domains"
        assert requests.get(url, auth=("api", DEFAULT_MAILGUN_KEY), timeout=5).status_code == 503
        assert requests.get(url, auth=("api", DEFAULT_MAILGUN_KEY), timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "airflow_provider_mailgun.testing", "--faults", '{"bogus": 1}'],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2
    assert "unknown fault spec keys" in bad.stderr


def _console_script() -> Path:
    script = Path(sys.executable).parent / "mailgun-emulator"
    if not script.exists():
        pytest.skip("console script not installed in this environment (pip install -e .)")
    return script


def test_console_script_help():
    result = subprocess.run([str(_console_script()), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for flag in (
        "--host",
        "--port",
        "--mailgun-key",
        "--maton-key",
        "--maton-connection",
        "--rate-limit",
        "--faults",
        "--seed",
    ):
        assert flag in result.stdout


def _fault_statuses(url: str, key: str, count: int = 30) -> list[int]:
    with requests.Session() as session:
        session.auth = ("api", key)
        return [session.get(f"{url}/v3/domains", timeout=5).status_code for _ in range(count)]


def test_console_script_flags():
    """The installed ``mailgun-emulator`` script with every flag it has: keys, connection
    ids, rate limit, fault spec and seed (the seeded fault sequence equals an in-process one)."""
    from airflow_provider_mailgun.testing import MailgunEmulator

    faults = {"error_rate": 0.5, "statuses": [429, 500, 503], "path": "/domains"}
    connection = "11111111-2222-4333-8444-555555555555"
    command = [
        str(_console_script()),
        *("--host", "127.0.0.1", "--port", "0"),
        *("--mailgun-key", "mk-1", "--mailgun-key", "mk-2"),
        *("--maton-key", "tk-1", "--maton-connection", connection),
        *("--rate-limit", "4", "--faults", json.dumps(faults), "--seed", "11"),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = LINE_RE.search(line)
        assert match, line
        direct, gateway, ctrl = match.groups()
        assert direct.startswith("http://127.0.0.1:")
        # Accepted Mailgun keys: both given ones, not the default.
        message = {"from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"}
        url = f"{direct}/v3/mg.example.com/messages"
        assert requests.post(url, auth=("api", "mk-2"), data=message, timeout=5).status_code == 200
        assert (
            requests.post(url, auth=("api", DEFAULT_MAILGUN_KEY), data=message, timeout=5).status_code == 401
        )
        # Accepted Maton key and the given connection id (the only one, so the default).
        bearer = {"Authorization": "Bearer tk-1"}
        conns = requests.get(f"{ctrl}/connections", headers=bearer, timeout=5).json()["connections"]
        assert [c["connection_id"] for c in conns] == [connection]
        gw_url = f"{gateway}/mailgun/v3/mg.example.com/messages"
        sent = requests.post(
            gw_url, headers={**bearer, "Maton-Connection": connection}, data=message, timeout=5
        )
        assert sent.status_code == 200
        denied = requests.post(
            gw_url,
            headers={"Authorization": f"Bearer {DEFAULT_MATON_KEY}"},
            data=message,
            timeout=5,
        )
        assert denied.status_code == 401
        other = requests.post(gw_url, headers={**bearer, "Maton-Connection": "nope"}, data=message, timeout=5)
        assert other.status_code == 400
        # Rate limit: 4 requests/s per account; the fifth quick one is refused (a fresh account).
        statuses = [
            requests.get(f"{direct}/v3/mg.example.com/bounces", auth=("api", "mk-1"), timeout=5)
            for _ in range(6)
        ]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited, [r.status_code for r in statuses]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert "X-RateLimit-Reset" in limited[0].headers
        # Fault spec + seed: after a reset (same seed) the CLI's fault sequence is the in-process one.
        assert requests.post(f"{direct}/_emulator/reset", timeout=5).status_code == 200
        requests.post(f"{direct}/_emulator/rate_limit", json={"rate": None}, timeout=5)
        from_cli = _fault_statuses(direct, "mk-1")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    with (
        MailgunEmulator(faults=faults, seed=11) as same,
        MailgunEmulator(faults=faults, seed=12) as other_seed,
    ):
        assert _fault_statuses(same.url, same.mailgun_key) == from_cli
        assert _fault_statuses(other_seed.url, other_seed.mailgun_key) != from_cli
    assert len(set(from_cli)) > 1


def test_conn_id_fixtures(mailgun_conn_id, maton_conn_id, mailgun_emulator):
    assert (mailgun_conn_id, maton_conn_id) == ("mailgun_default", "maton_default")
    mailgun = json.loads(os.environ["AIRFLOW_CONN_MAILGUN_DEFAULT"])
    assert mailgun == {
        "conn_type": "mailgun",
        "host": mailgun_emulator.url,
        "password": mailgun_emulator.mailgun_key,
        "extra": {"region": "us", "default_domain": mailgun_emulator.domain},
    }
    maton = json.loads(os.environ["AIRFLOW_CONN_MATON_DEFAULT"])
    assert maton == {
        "conn_type": "maton",
        "host": mailgun_emulator.gateway_url,
        "password": mailgun_emulator.maton_key,
        "extra": {
            "ctrl_url": mailgun_emulator.ctrl_url,
            "default_domain": mailgun_emulator.domain,
            "maton_connection": mailgun_emulator.maton_connection,
        },
    }


def test_plugin_in_a_fresh_pytest_run(tmp_path):
    """Entry-point registration, per-test isolation on the shared server, the marker and the factory."""
    (tmp_path / "test_uses_plugin.py").write_text(
        textwrap.dedent(
            """
            import pytest, requests

            def _send(emu):
                return requests.post(
                    f"{emu.url}/v3/{emu.domain}/messages", auth=("api", emu.mailgun_key), timeout=10,
                    data={"from": "a@mg.example.com", "to": "b@example.com", "subject": "s", "text": "t"})

            def test_one(mailgun_emulator):
                assert _send(mailgun_emulator).status_code == 200
                assert len(mailgun_emulator.messages()) == 1

            def test_two_sees_fresh_state(mailgun_emulator):
                assert mailgun_emulator.messages() == []

            @pytest.mark.mailgun_emulator(rate_limit=1, domains=("own.example.com",))
            def test_marker(mailgun_emulator):
                assert mailgun_emulator.domain == "own.example.com"

            def test_factory(mailgun_emulator_factory, mailgun_emulator):
                other = mailgun_emulator_factory(seed=3)
                assert other.url != mailgun_emulator.url

            def test_conn_ids_need_no_setup(mailgun_emulator, maton_conn_id, mailgun_conn_id):
                import json, os
                maton = json.loads(os.environ["AIRFLOW_CONN_MATON_DEFAULT"])
                mailgun = json.loads(os.environ["AIRFLOW_CONN_MAILGUN_DEFAULT"])
                assert (maton_conn_id, mailgun_conn_id) == ("maton_default", "mailgun_default")
                assert maton["host"] == mailgun_emulator.gateway_url
                assert mailgun["host"] == mailgun_emulator.url
            """
        )
    )
    result = subprocess.run(
        # Unrelated plugins are switched off only to keep this inner run fast.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:anyio",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
