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

from airflow_provider_mailgun.testing import DEFAULT_MAILGUN_KEY

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


def test_console_script_help():
    script = Path(sys.executable).parent / "mailgun-emulator"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--rate-limit" in result.stdout


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
    assert "4 passed" in result.stdout
