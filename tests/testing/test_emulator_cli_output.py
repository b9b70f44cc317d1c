"""What ``mailgun-emulator`` tells a user on start: the keys, the domain and ready-to-paste
``AIRFLOW_CONN_*`` lines for both entrances (which then work), and the defaults in ``--help``."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
)

CLI = [sys.executable, "-m", "airflow_provider_mailgun.testing"]


def read_banner(proc: subprocess.Popen[str], wait: float = 20.0) -> list[str]:
    """The lines printed before the server serves (up to the one saying how to stop it).

    Read on a thread, so a banner that never completes fails the test instead of hanging it.
    """
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "Ctrl-C" in line:
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(wait) or not lines or "Ctrl-C" not in lines[-1]:
        raise AssertionError(f"no complete banner: {lines}")
    return list(lines)


def stop(proc: subprocess.Popen[str]) -> None:
    """Ctrl-C, as a user stops it; killed if it does not stop, so no test leaves it running."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


def exports(lines: list[str]) -> dict[str, str]:
    """``export NAME=value`` lines, read as a POSIX shell reads them."""
    found = {}
    for line in lines:
        words = shlex.split(line)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def test_the_banner_gives_keys_domain_and_connections_that_work(monkeypatch) -> None:
    proc = subprocess.Popen([*CLI, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = read_banner(proc)
        text = "\n".join(lines)
        assert lines[0].startswith("Mailgun emulator: direct=http://127.0.0.1:")
        for value in (DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY, DEFAULT_MATON_KEY, DEFAULT_MATON_CONNECTION):
            assert value in text
        assert "web inbox:" in text
        connections = exports(lines)
        assert set(connections) == {"AIRFLOW_CONN_MAILGUN_DEFAULT", "AIRFLOW_CONN_MATON_DEFAULT"}
        mailgun = json.loads(connections["AIRFLOW_CONN_MAILGUN_DEFAULT"])
        maton = json.loads(connections["AIRFLOW_CONN_MATON_DEFAULT"])
        assert (mailgun["conn_type"], maton["conn_type"]) == ("mailgun", "maton")
        # Pasted as printed, both entrances reach the emulator and its domain.
        for name, value in connections.items():
            monkeypatch.setenv(name, value)
        for conn_id in ("mailgun_default", "maton_default"):
            ok, message = MailgunHook(mailgun_conn_id=conn_id).test_connection()
            assert ok, message
            assert f"domain {DEFAULT_DOMAIN!r} is active" in message
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_the_banner_shows_the_keys_and_domain_given() -> None:
    args = ["--port", "0", "--domain", "cli.example.com", "--mailgun-key", "mk-1", "--maton-key", "tk-1"]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        connections = exports(read_banner(proc))
    finally:
        stop(proc)
    mailgun = json.loads(connections["AIRFLOW_CONN_MAILGUN_DEFAULT"])
    maton = json.loads(connections["AIRFLOW_CONN_MATON_DEFAULT"])
    assert (mailgun["password"], mailgun["extra"]["default_domain"]) == ("mk-1", "cli.example.com")
    assert (maton["password"], maton["extra"]["default_domain"]) == ("tk-1", "cli.example.com")


def test_help_lists_the_defaults() -> None:
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for default in ("8025", "127.0.0.1", DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY, DEFAULT_MATON_KEY):
        assert default in text, default
    assert DEFAULT_MATON_CONNECTION in text
