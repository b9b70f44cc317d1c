"""One sender in its own process: the operator, or Mailgun's official SDK in a plain loop.

The benchmarks that compare or combine senders start this module once per sender, so each one's
CPU time and memory are its own, measured from a baseline taken with the recipient list already
in memory and the sender's modules imported::

    python -m benchmarks.sender operator --conn-id mailgun_default --recipients 100000
    python -m benchmarks.sender sdk --url http://127.0.0.1:PORT --recipients 100000
    python -m benchmarks.sender operator --conn-id maton_default --first 25000 --wait-for-go

The connection comes from the environment (``benchmarks.common.use_connection``). The last line of
output is one JSON object: wall and CPU seconds, memory above the baseline, batches accepted and
failed, and the error when the sender raised one. The operator's figures cover its ``execute``;
building the task (which Airflow does when it parses the DAG file) is measured apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import ROOT, PeakMemory, Stopwatch

FROM = "Launch <launch@mg.example.com>"
SUBJECT = "%recipient.first%, it is launch day"
TEXT = "Hello %recipient.first%, your code is %recipient.code%."
CHUNK = 1000


def spawn(
    kind: str, recipients: int, *, env: dict[str, str] | None = None, **options: Any
) -> subprocess.Popen[str]:
    """Start one sender; ``options`` are its flags (``conn_id``, ``url``, ``first``, ``wait_for_go``)."""
    command = [sys.executable, "-m", "benchmarks.sender", kind, "--recipients", str(recipients)]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        command += [flag] if value is True else [flag, str(value)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def start_together(processes: list[subprocess.Popen[str]]) -> None:
    """Once every sender (started with ``wait_for_go=True``) is ready, release them all at once."""
    for process in processes:
        assert process.stdout is not None
        line = "-"
        while line and line.strip() != "ready":  # anything printed before (logs) is skipped
            line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"sender exited before it was ready (exit {process.wait()})")
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def report(process: subprocess.Popen[str]) -> dict[str, Any]:
    """Wait for a sender and return its JSON report."""
    out, _ = process.communicate(timeout=1800)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        raise RuntimeError(f"sender failed (exit {process.returncode}): {out[-500:]!r}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def fresh_limit_dir() -> dict[str, str]:
    """The environment for senders that start with nothing learned about the rate limit."""
    from airflow_provider_mailgun.client.limit_stores import STATE_DIR_ENV

    return {**os.environ, STATE_DIR_ENV: tempfile.mkdtemp(prefix="mailgun-bench-limit-")}


def people(first: int, count: int) -> list[dict[str, Any]]:
    """``count`` personalised recipients, numbered from ``first`` (unique across senders)."""
    return [
        {
            "address": f"reader{i:07d}@example.org",
            "name": f"Reader {i}",
            "variables": {"first": f"R{i}", "code": f"C{i:07d}"},
        }
        for i in range(first, first + count)
    ]


def build_operator(audience: list[dict[str, Any]], conn_id: str) -> Any:
    from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator

    return MailgunSendMessageOperator(
        task_id="bench_send",
        mailgun_conn_id=conn_id,
        from_email=FROM,
        to=audience,
        subject=SUBJECT,
        text=TEXT,
        reconcile_timeout=30,
    )


def run_operator(operator: Any) -> dict[str, Any]:
    result = operator.execute({})
    return {"accepted_batches": len(result["message_ids"]), "reconciled": result["reconciled"]}


def run_sdk(audience: list[dict[str, Any]], url: str, key: str, domain: str) -> dict[str, Any]:
    """Mailgun's SDK as its README shows it, over chunks of 1,000 with recipient variables."""
    from mailgun.client import Client

    accepted = failed = 0
    with Client(auth=("api", key), api_url=url) as client:
        for start in range(0, len(audience), CHUNK):
            chunk = audience[start : start + CHUNK]
            data = {
                "from": FROM,
                "to": [f"{p['name']} <{p['address']}>" for p in chunk],
                "subject": SUBJECT,
                "text": TEXT,
                "recipient-variables": json.dumps({p["address"]: p["variables"] for p in chunk}),
            }
            reply = client.messages.create(domain=domain, data=data)
            if reply.status_code == 200:
                accepted += 1
            else:
                failed += 1
    return {"accepted_batches": accepted, "failed_batches": failed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sender")
    parser.add_argument("kind", choices=("operator", "sdk"))
    parser.add_argument("--recipients", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first recipient")
    parser.add_argument("--conn-id", default="mailgun_default")
    parser.add_argument("--url", help="the emulator's direct URL (sdk)")
    parser.add_argument("--wait-for-go", action="store_true", help='say "ready", start on a "go" line')
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="mailgun-bench-sender-")
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")
    audience = people(args.first, args.recipients)
    setup: dict[str, Any] = {}
    if args.kind == "operator":
        # Building the task happens when Airflow parses the DAG file, not in the task's run; most
        # of it is Airflow looking for XCom references in the recipient list. Measured apart.
        with Stopwatch() as parse:
            operator = build_operator(audience, args.conn_id)
        setup = {"operator_build_wall_seconds": parse.wall, "operator_build_cpu_seconds": parse.cpu}

        def send() -> dict[str, Any]:
            return run_operator(operator)
    else:
        import mailgun.client  # noqa: F401

        from airflow_provider_mailgun.testing import DEFAULT_DOMAIN, DEFAULT_MAILGUN_KEY

        def send() -> dict[str, Any]:
            return run_sdk(audience, args.url, DEFAULT_MAILGUN_KEY, DEFAULT_DOMAIN)

    if args.wait_for_go:
        print("ready", flush=True)
        sys.stdin.readline()
    outcome: dict[str, Any] = {}
    started = time.time()
    with PeakMemory() as memory, Stopwatch() as clock:
        try:
            outcome = send()
        except Exception as err:  # reported, not hidden: the benchmark counts what reached the server
            outcome = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    report = {
        "kind": args.kind,
        "started_at": started,
        "recipients": args.recipients,
        "wall_seconds": clock.wall,
        "cpu_seconds": clock.cpu,
        "baseline_rss_mb": round(memory.baseline / 2**20, 1),
        "above_baseline_mb": memory.above_baseline_mb,
        **setup,
        **outcome,
    }
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
